#include "fs/core/layer_format.h"

#include <fcntl.h>
#include <sys/xattr.h>

#include <array>

#include "fs/core/xattr_io.h"

namespace strata::core {
namespace {

constexpr std::array<std::string_view, 3> kPrivatePrefixes = {"trusted.overlay.", "user.overlay.",
                                                              "user.fuseoverlayfs."};
constexpr std::array<const char*, 3> kOpaqueXattrs = {
    "trusted.overlay.opaque", "user.overlay.opaque", "user.fuseoverlayfs.opaque"};
constexpr std::array<const char*, 2> kRedirectXattrs = {"trusted.overlay.redirect",
                                                        "user.overlay.redirect"};
constexpr std::array<const char*, 2> kWhiteoutXattrs = {"trusted.overlay.whiteout",
                                                        "user.overlay.whiteout"};
// The namespaces strata writes its markers in (upper_layer.h), trusted first.
constexpr std::array<std::string_view, 2> kMarkerPrefixes = {"trusted.overlay.", "user.overlay."};

bool ListContains(const std::string& list, std::string_view name) {
  size_t pos = 0;
  while (pos < list.size()) {
    std::string_view item(list.data() + pos);
    if (item == name) return true;
    pos += item.size() + 1;
  }
  return false;
}

uint64_t ParseIno(const std::string& value) {
  uint64_t ino = 0;
  for (char c : value) {
    if (c < '0' || c > '9') return 0;
    ino = ino * 10 + static_cast<uint64_t>(c - '0');
  }
  return ino;
}

}  // namespace

bool IsPrivateXattr(std::string_view name) {
  for (auto prefix : kPrivatePrefixes) {
    if (name.starts_with(prefix)) return true;
  }
  return false;
}

std::string ProcFdPath(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

std::string ProcFdPath(int dirfd, std::string_view name) {
  std::string path = ProcFdPath(dirfd);
  path += '/';
  path += name;
  return path;
}

Result<DirMarks> ReadDirMarks(int dirfd) {
  DirMarks marks;
  const std::string path = ProcFdPath(dirfd);
  // One listxattr answers "is any marker present" for the common unmarked directory.
  STRATA_ASSIGN_OR_RETURN(std::string names, ListXattrs(path, Follow::kYes));
  for (const char* xattr : kOpaqueXattrs) {
    if (!ListContains(names, xattr)) continue;
    auto value = ReadXattr(path, xattr, Follow::kYes);
    if (!value) {
      if (value.error().code == ENODATA) continue;
      return Unexpected{value.error()};
    }
    if (*value == "y") marks.opaque = true;
    if (*value == "x") marks.xattr_whiteouts = true;
  }
  for (const char* xattr : kRedirectXattrs) {
    if (!ListContains(names, xattr)) continue;
    auto value = ReadXattr(path, xattr, Follow::kYes);
    if (value && !value->empty()) marks.redirect = *value;
  }
  for (std::string_view prefix : kMarkerPrefixes) {
    const std::string ino = std::string(prefix) + std::string(kInoSuffix);
    if (marks.ino == 0 && ListContains(names, ino)) {
      if (auto value = ReadXattr(path, ino.c_str(), Follow::kYes)) marks.ino = ParseIno(*value);
    }
    const std::string impure = std::string(prefix) + std::string(kImpureSuffix);
    if (marks.impure_prefix.empty() && ListContains(names, impure)) marks.impure_prefix = prefix;
  }
  if (!marks.opaque) {
    struct stat st;
    if (::fstatat(dirfd, kOpaqueMarker.data(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      marks.opaque = true;
    } else if (errno != ENOENT) {
      return FailErrno("stat opaque marker");
    }
  }
  return marks;
}

Result<bool> HasOciWhiteout(int dirfd, std::string_view name) {
  const std::string wh = std::string(kWhiteoutPrefix) + std::string(name);
  struct stat st;
  if (::fstatat(dirfd, wh.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return true;
  if (errno == ENOENT || errno == ENAMETOOLONG) return false;
  return FailErrno("stat whiteout");
}

bool IsXattrWhiteout(int dirfd, std::string_view name, const struct stat& st) {
  if (!S_ISREG(st.st_mode) || st.st_size != 0) return false;
  const std::string path = ProcFdPath(dirfd, name);
  for (const char* xattr : kWhiteoutXattrs) {
    if (::lgetxattr(path.c_str(), xattr, nullptr, 0) >= 0) return true;
  }
  return false;
}

std::optional<std::string> ReadMetacopy(int dirfd, std::string_view name, std::string_view prefix) {
  const std::string path = ProcFdPath(dirfd, name);
  for (std::string_view p : kMarkerPrefixes) {
    if (!prefix.empty() && p != prefix) continue;
    const std::string marker = std::string(p) + std::string(kMetacopySuffix);
    if (::lgetxattr(path.c_str(), marker.c_str(), nullptr, 0) < 0) continue;
    const std::string redirect_name = std::string(p) + std::string(kRedirectSuffix);
    auto redirect = ReadXattr(path, redirect_name.c_str(), Follow::kNo);
    return redirect ? *redirect : std::string();
  }
  return std::nullopt;
}

Status RemoveMetacopy(int fd) {
  for (std::string_view prefix : kMarkerPrefixes) {
    const std::string marker = std::string(prefix) + std::string(kMetacopySuffix);
    if (::fgetxattr(fd, marker.c_str(), nullptr, 0) < 0) continue;
    if (::fremovexattr(fd, marker.c_str()) != 0) return FailErrno("remove metacopy marker");
  }
  return Ok();
}

std::optional<uint64_t> ReadStoredNumber(int dirfd, std::string_view name, std::string_view prefix,
                                         std::string_view suffix) {
  const std::string attr = std::string(prefix) + std::string(suffix);
  char buf[24];
  const ssize_t n =
      name.empty()
          ? ::getxattr(ProcFdPath(dirfd).c_str(), attr.c_str(), buf, sizeof(buf) - 1)
          : ::lgetxattr(ProcFdPath(dirfd, name).c_str(), attr.c_str(), buf, sizeof(buf) - 1);
  if (n <= 0) return std::nullopt;
  return ParseIno(std::string(buf, static_cast<size_t>(n)));
}

}  // namespace strata::core
