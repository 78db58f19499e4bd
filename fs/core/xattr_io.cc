#include "fs/core/xattr_io.h"

#include <sys/xattr.h>

namespace strata::core {
namespace {

// Calls fn(buf, size) with a growing buffer until it fits (values may grow between calls).
template <typename Fn>
Result<std::string> ReadSized(Fn fn, const char* what) {
  std::string buf(256, '\0');
  for (int attempt = 0; attempt < 8; ++attempt) {
    ssize_t n = fn(buf.data(), buf.size());
    if (n >= 0) {
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
    if (errno != ERANGE) return FailErrno(what);
    n = fn(nullptr, 0);
    if (n < 0) return FailErrno(what);
    buf.assign(static_cast<size_t>(n) + 64, '\0');
  }
  return Fail(ERANGE, what);
}

}  // namespace

Result<std::string> ReadXattr(const std::string& path, const char* name, Follow follow) {
  return ReadSized(
      [&](char* buf, size_t size) {
        return follow == Follow::kYes ? ::getxattr(path.c_str(), name, buf, size)
                                      : ::lgetxattr(path.c_str(), name, buf, size);
      },
      "getxattr");
}

Result<std::string> ListXattrs(const std::string& path, Follow follow) {
  auto list = ReadSized(
      [&](char* buf, size_t size) {
        return follow == Follow::kYes ? ::listxattr(path.c_str(), buf, size)
                                      : ::llistxattr(path.c_str(), buf, size);
      },
      "listxattr");
  if (!list && list.error().code == ENOTSUP) return std::string();
  return list;
}

}  // namespace strata::core
