#include "tests/support/image_check.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/support/mount_fixture.h"
#include "tests/support/tree_dump.h"

namespace strata::testing {

void ExpectImageMountsAs(const std::string& store_root, const std::string& image,
                         const std::string& mountpoint, const std::string& expected_root) {
  CommandResult lower = RunCommand({STRATA_PATH, "--root", store_root, "lowerdirs", image});
  ASSERT_EQ(lower.exit_code, 0) << lower.err;
  ::mkdir(mountpoint.c_str(), 0755);
  StrataMount m({"-o", lower.out.substr(0, lower.out.find('\n'))}, mountpoint);
  ASSERT_TRUE(m.ok()) << m.error();
  Tree expected = DumpTree(expected_root);
  Tree actual = DumpTree(mountpoint);
  expected.erase("/");
  actual.erase("/");
  CanonicalOptions options;
  options.dir_mtime = false;
  EXPECT_EQ(DiffLines(Canonical(expected, options), Canonical(actual, options)), "");
  EXPECT_EQ(m.Stop(), 0) << m.Stderr();
}

}  // namespace strata::testing
