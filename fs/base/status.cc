#include "fs/base/status.h"

#include <cstring>

namespace strata {

std::string Error::Message() const {
  std::string reason = std::strerror(code);
  if (context.empty()) return reason;
  return context + ": " + reason;
}

}  // namespace strata
