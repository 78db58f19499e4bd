// Differential test: seeded random layer stacks, mounted by kernel overlayfs and by stratafs;
// the canonical dumps must be identical. The kernel mounts the kernel-encoded stack; stratafs
// mounts the same stack written in every encoding (kernel, OCI .wh., user xattrs,
// fuse-overlayfs xattrs, xattr whiteouts), so the kernel is the expected tree for all of them.
//
// STRATA_DIFF_SEEDS=N runs seeds 1..N (default 100); STRATA_DIFF_SEED=S runs only seed S.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include "tests/support/layer_builder.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/random_stack.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tree_dump.h"

namespace strata::testing {
namespace {

class DifferentialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
  }
};

TEST_F(DifferentialTest, RandomStacksMatchKernelOverlayfs) {
  int first = 1, last = 100;
  if (const char* n = std::getenv("STRATA_DIFF_SEEDS")) last = std::atoi(n);
  if (const char* s = std::getenv("STRATA_DIFF_SEED")) first = last = std::atoi(s);
  TempDir dir;
  int compared = 0;
  const std::string fuse_overlayfs =
      ::access("/usr/bin/fuse-overlayfs", X_OK) == 0 ? "/usr/bin/fuse-overlayfs" : "";
  for (int seed = first; seed <= last; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed) +
                 " (rerun: STRATA_DIFF_SEED=" + std::to_string(seed) + ")");
    TmpfsMount tmp(dir / ("s" + std::to_string(seed)));
    ASSERT_TRUE(tmp.ok());
    const auto plans = Plan(static_cast<uint64_t>(seed));
    const auto kernel_layers = Write(plans, Encoding::kKernel, tmp.path() + "/kernel");
    ::mkdir((tmp.path() + "/kmnt").c_str(), 0755);
    KernelOverlay kernel(kernel_layers, tmp.path() + "/kmnt");
    ASSERT_TRUE(kernel.ok()) << kernel.error();
    if (std::getenv("STRATA_DIFF_SHOW")) {  // debugging aid: show the kernel-encoded layers
      std::system(("cd " + tmp.path() + "/kernel && ls -laR . && getfattr -R -d -m - .").c_str());
    }
    const Tree expected = DumpTree(tmp.path() + "/kmnt", /*skip_phantoms=*/true);
    const std::string expected_text = Canonical(expected);

    for (Encoding enc : {Encoding::kKernel, Encoding::kOci, Encoding::kUserXattr,
                         Encoding::kFuseOverlayfs, Encoding::kXattrWhiteout}) {
      SCOPED_TRACE(std::string("encoding ") + EncodingName(enc));
      const std::string base = tmp.path() + "/" + EncodingName(enc);
      const auto layers = enc == Encoding::kKernel ? kernel_layers : Write(plans, enc, base);
      const std::string mnt = tmp.path() + "/mnt-" + EncodingName(enc);
      ::mkdir(mnt.c_str(), 0755);
      StrataMount strata({"-o", LowerdirOption(layers)}, mnt);
      ASSERT_TRUE(strata.ok()) << strata.error();
      const Tree actual = DumpTree(mnt);
      EXPECT_EQ(DiffLines(expected_text, Canonical(actual)), "");
      EXPECT_EQ(CheckDirNlink(actual), "");
      if (enc == Encoding::kKernel) {
        EXPECT_EQ(CheckInodes(actual, expected), "");
      }
      EXPECT_EQ(strata.Stop(), 0) << "clean unmount exits 0; stderr: " << strata.Stderr();
      ++compared;
    }
    // fuse-overlayfs, a peer nobody here wrote, on the OCI-encoded stack: a third opinion.
    if (!fuse_overlayfs.empty()) {
      SCOPED_TRACE("fuse-overlayfs on the OCI encoding");
      const std::string mnt = tmp.path() + "/mnt-fuse-overlayfs";
      ::mkdir(mnt.c_str(), 0755);
      std::vector<std::string> oci_layers;
      for (size_t i = plans.size(); i-- > 0;) {
        oci_layers.push_back(tmp.path() + "/" + EncodingName(Encoding::kOci) + "/l" +
                             std::to_string(i));
      }
      CommandResult r = RunCommand({fuse_overlayfs, "-o", LowerdirOption(oci_layers), mnt});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      const Tree peer = DumpTree(mnt);
      Unmount(mnt);
      // fuse-overlayfs reports st_nlink 1 for some hard-linked lower files where the kernel
      // (and stratafs) report the real count; everything else must agree.
      CanonicalOptions no_nlink;
      no_nlink.file_nlink = false;
      EXPECT_EQ(DiffLines(Canonical(expected, no_nlink), Canonical(peer, no_nlink)), "");
    }
    if (HasFailure()) break;  // one seed's report is enough to debug
  }
  EXPECT_GT(compared, 0);
  std::printf("compared %d stratafs mounts with kernel overlayfs\n", compared);
}

}  // namespace
}  // namespace strata::testing
