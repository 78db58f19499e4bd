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
constexpr std::array<const char*, 2> kWhiteoutXattrs = {"trusted.overlay.whiteout",
                                                        "user.overlay.whiteout"};

bool ListContains(const std::string& list, std::string_view name) {
  size_t pos = 0;
  while (pos < list.size()) {
    std::string_view item(list.data() + pos);
    if (item == name) return true;
    pos += item.size() + 1;
  }
  return false;
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

bool IsXattrWhiteout(int dirfd, std::string_view name, const struct stat& st) {
  if (!S_ISREG(st.st_mode) || st.st_size != 0) return false;
  const std::string path = ProcFdPath(dirfd, name);
  for (const char* xattr : kWhiteoutXattrs) {
    if (::lgetxattr(path.c_str(), xattr, nullptr, 0) >= 0) return true;
  }
  return false;
}

}  // namespace strata::core
