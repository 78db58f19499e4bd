#include "fs/core/override_stat.h"

#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <charconv>
#include <cstdio>

namespace strata::core {
namespace {

bool ParseNumber(std::string_view text, int base, uint64_t* out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out, base);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

std::optional<OverrideStat> ParseOverrideStat(std::string_view value) {
  const size_t a = value.find(':');
  const size_t b = a == std::string_view::npos ? a : value.find(':', a + 1);
  if (b == std::string_view::npos) return std::nullopt;
  size_t end = value.find(':', b + 1);
  if (end == std::string_view::npos) end = value.size();
  uint64_t uid, gid, mode;
  if (!ParseNumber(value.substr(0, a), 10, &uid) ||
      !ParseNumber(value.substr(a + 1, b - a - 1), 10, &gid) ||
      !ParseNumber(value.substr(b + 1, end - b - 1), 8, &mode) || uid > UINT32_MAX ||
      gid > UINT32_MAX || mode > 0177777) {
    return std::nullopt;
  }
  OverrideStat o{static_cast<uid_t>(uid), static_cast<gid_t>(gid), static_cast<mode_t>(mode), 0};
  if (end < value.size()) {  // DEV: "char-MAJ-MIN" / "block-MAJ-MIN"
    std::string_view dev = value.substr(end + 1);
    const size_t kind_end = dev.find('-');
    const size_t split =
        kind_end == std::string_view::npos ? kind_end : dev.find('-', kind_end + 1);
    uint64_t maj, min;
    if (split == std::string_view::npos ||
        (dev.substr(0, kind_end) != "char" && dev.substr(0, kind_end) != "block") ||
        !ParseNumber(dev.substr(kind_end + 1, split - kind_end - 1), 10, &maj) ||
        !ParseNumber(dev.substr(split + 1), 10, &min) || maj > UINT32_MAX || min > UINT32_MAX) {
      return std::nullopt;
    }
    o.rdev = makedev(static_cast<unsigned>(maj), static_cast<unsigned>(min));
    if (!(o.mode & S_IFMT)) o.mode |= dev.starts_with("char") ? S_IFCHR : S_IFBLK;
  }
  return o;
}

std::string FormatOverrideStat(const OverrideStat& o) {
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%u:%u:0%o", o.uid, o.gid, o.mode);
  if (S_ISCHR(o.mode) || S_ISBLK(o.mode)) {
    std::snprintf(buf + n, sizeof buf - static_cast<size_t>(n), ":%s-%u-%u",
                  S_ISCHR(o.mode) ? "char" : "block", major(o.rdev), minor(o.rdev));
  }
  return buf;
}

std::optional<OverrideStat> ReadOverrideStat(const std::string& path, Follow follow,
                                             const std::string& xattr) {
  auto value = ReadXattr(path, xattr.c_str(), follow);
  if (!value) return std::nullopt;
  return ParseOverrideStat(*value);
}

Status WriteOverrideStat(const std::string& path, Follow follow, const std::string& xattr,
                         const OverrideStat& o) {
  const std::string value = FormatOverrideStat(o);
  const int rc = follow == Follow::kYes
                     ? ::setxattr(path.c_str(), xattr.c_str(), value.data(), value.size(), 0)
                     : ::lsetxattr(path.c_str(), xattr.c_str(), value.data(), value.size(), 0);
  if (rc != 0) return FailErrno("set " + xattr);
  return Ok();
}

}  // namespace strata::core
