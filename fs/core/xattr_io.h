// Path-based xattr reads that size their buffers themselves. A path is either a magic
// "/proc/self/fd/N" link to follow (Follow::kYes: acts on the fd's object) or a
// "/proc/self/fd/N/name" path whose last component must not be followed (Follow::kNo).
// Stateless, thread-safe.
#pragma once

#include <string>

#include "fs/base/status.h"

namespace strata::core {

enum class Follow { kNo, kYes };

// The value of xattr NAME. Errors: ENODATA, ENOTSUP, and other errnos of getxattr(2).
Result<std::string> ReadXattr(const std::string& path, const char* name, Follow follow);

// All names, each NUL-terminated (the listxattr(2) format). ENOTSUP yields an empty list.
Result<std::string> ListXattrs(const std::string& path, Follow follow);

}  // namespace strata::core
