#include "tests/support/file_data.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "tests/support/mount_fixture.h"

namespace strata::testing {

std::string ReadPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "<unreadable: " + std::string(std::strerror(errno)) + ">";
  std::string out = PreadAll(fd);
  ::close(fd);
  return out;
}

::testing::AssertionResult SameData(const std::string& got, const std::string& want) {
  if (got == want) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  return ::testing::AssertionFailure() << "sizes " << got.size() << " and " << want.size()
                                       << ", first difference at offset " << i;
}

}  // namespace strata::testing
