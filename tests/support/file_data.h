// File contents in tests: a whole file read by path, and data compared so that a failure
// reports where two contents part (not megabytes of both).
#pragma once

#include <gtest/gtest.h>

#include <string>

namespace strata::testing {

// Everything PATH holds (read with pread from offset 0), or "<unreadable: ERRNO TEXT>".
std::string ReadPath(const std::string& path);

// Success if GOT equals WANT; else a failure naming both sizes and the first differing offset.
::testing::AssertionResult SameData(const std::string& got, const std::string& want);

}  // namespace strata::testing
