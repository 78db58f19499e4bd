#include "fs/core/override_stat.h"

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
  size_t end = value.find(':', b + 1);  // a 4th field (device type) is tolerated
  if (end == std::string_view::npos) end = value.size();
  uint64_t uid, gid, mode;
  if (!ParseNumber(value.substr(0, a), 10, &uid) ||
      !ParseNumber(value.substr(a + 1, b - a - 1), 10, &gid) ||
      !ParseNumber(value.substr(b + 1, end - b - 1), 8, &mode) || uid > UINT32_MAX ||
      gid > UINT32_MAX || mode > 0177777) {
    return std::nullopt;
  }
  return OverrideStat{static_cast<uid_t>(uid), static_cast<gid_t>(gid), static_cast<mode_t>(mode)};
}

std::string FormatOverrideStat(const OverrideStat& o) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%u:%u:0%o", o.uid, o.gid, o.mode);
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
