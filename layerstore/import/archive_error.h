// libarchive's message for an archive's last error. archive_error_string() is null when the
// failing step set none (e.g. a gzip stream that ends inside its header): never build a
// std::string from it directly.
#pragma once

#include <archive.h>

#include <string>

namespace strata::store {

inline std::string ArchiveError(struct archive* a) {
  const char* message = archive_error_string(a);
  return message != nullptr ? message : "unreadable archive (no detail from libarchive)";
}

}  // namespace strata::store
