// stress-ng (a tool nobody here wrote) against a writable, multi-threaded stratafs mount: the
// namespace stressors (dentry, rename, link, dir), the I/O stressors that keep using a
// temporary file after unlinking it (seek, readahead, hdd, copy-file, iomix) and the metadata,
// locking and transfer stressors (symlink, chmod, chown, utime, xattr, fallocate, flock, lockf,
// mmap, sendfile, splice), two workers each at once, must report no failure; afterwards, once
// the kernel has dropped its cached inodes, the daemon holds no more file descriptors than
// before (its resident memory is reported). Short runs here; scripts/stress runs them for as
// long as asked.
//
// STRATA_STRESS_SECONDS sets each run's time (default 8).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <sstream>

#include "tests/support/layer_builder.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/process_stats.h"
#include "tests/support/temp_dir.h"

namespace strata::testing {
namespace {

constexpr const char* kStressNg = "/usr/bin/stress-ng";

int Seconds() {
  const char* s = std::getenv("STRATA_STRESS_SECONDS");
  return s ? std::max(1, std::atoi(s)) : 8;
}

// The lines of OUT that report a failure ("fail:" or "error:").
std::string Failures(const std::string& out) {
  std::istringstream lines(out);
  std::string failures;
  for (std::string line; std::getline(lines, line);) {
    if (line.find(" fail: ") != std::string::npos || line.find(" error: ") != std::string::npos) {
      failures += line + "\n";
    }
  }
  return failures;
}

// The bogo operations stress-ng's --metrics-brief table in OUT reports, summed over stressors.
long BogoOps(const std::string& out) {
  std::istringstream lines(out);
  long total = 0;
  for (std::string line; std::getline(lines, line);) {
    const size_t at = line.find("metrc: [");
    if (at == std::string::npos) continue;
    std::istringstream fields(line.substr(line.find(']', at) + 1));
    std::string name;
    long ops = 0;
    if (fields >> name >> ops) total += ops;  // header lines fail to parse a number
  }
  return total;
}

class StressTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    ASSERT_EQ(::access(kStressNg, X_OK), 0) << "stress-ng is missing (scripts/install-deps)";
    LayerBuilder(dir_ / "lower").File("lower-file", std::string(100000, 'l')).Dir("lower-dir");
    for (const char* d : {"upper", "work", "mnt"}) ASSERT_EQ(::mkdir((dir_ / d).c_str(), 0755), 0);
  }

  // Runs stress-ng with STRESSORS (and their options) in the mount for Seconds().
  void Run(const std::vector<std::string>& stressors) {
    std::string options = LowerdirOption({dir_ / "lower"}) + ",upperdir=" + (dir_ / "upper") +
                          ",workdir=" + (dir_ / "work");
    if (std::string(GetParam()) != "default") options += std::string(",") + GetParam();
    std::optional<FuseUringEnabled> uring;
    if (std::string(GetParam()) == "io_uring") {
      if (DaemonLibfuseMinor() < 18) GTEST_SKIP() << "libfuse before 3.18 has no io_uring";
      uring.emplace();
      ASSERT_TRUE(uring->ok()) << uring->error();
    }
    StrataMount strata({"-o", options}, dir_ / "mnt");
    ASSERT_TRUE(strata.ok()) << strata.error();
    if (uring) {
      ASSERT_TRUE(HoldsIoUring(strata.pid())) << "the daemon serves over /dev/fuse";
    }
    const size_t fds_before = OpenFds(strata.pid(), /*files_only=*/true);
    const long rss_before = RssKiB(strata.pid());
    std::vector<std::string> argv = {
        kStressNg,        "--temp-path", dir_ / "mnt", "--timeout", std::to_string(Seconds()) + "s",
        "--metrics-brief"};
    argv.insert(argv.end(), stressors.begin(), stressors.end());
    const CommandResult r = RunCommand(argv, (Seconds() + 120) * 1000);
    const std::string out = r.out + r.err;
    EXPECT_EQ(Failures(out), "") << out;
    EXPECT_EQ(r.exit_code, 0) << out;
    const std::string failures = Failures(out);
    std::printf("stress-ng %s, %s: %ld bogo ops in %d s, %ld failure lines\n",
                ::testing::UnitTest::GetInstance()->current_test_info()->name(), GetParam(),
                BogoOps(out), Seconds(),
                static_cast<long>(std::count(failures.begin(), failures.end(), '\n')));
    const size_t fds_after = DropCachesAndCountFds(strata.pid(), fds_before);
    EXPECT_LE(fds_after, fds_before) << "the daemon holds descriptors of nodes the kernel forgot";
    std::printf(
        "daemon: %zu file descriptors before, %zu after; RSS %ld KiB before, %ld KiB "
        "after, peak %ld KiB\n",
        fds_before, fds_after, rss_before, RssKiB(strata.pid()), PeakRssKiB(strata.pid()));
    EXPECT_EQ(strata.Stop(), 0) << strata.Stderr();
  }

  TempDir dir_;
};

TEST_P(StressTest, NamespaceStressorsRunClean) {
  Run({"--dentry", "2", "--rename", "2", "--link", "2", "--dir", "2"});
}

TEST_P(StressTest, UnlinkedTempFileStressorsRunClean) {
  Run({"--seek",  "2", "--seek-size",   "16m", "--readahead", "2", "--readahead-bytes", "16m",
       "--hdd",   "2", "--hdd-bytes",   "16m", "--copy-file", "2", "--copy-file-bytes", "128m",
       "--iomix", "2", "--iomix-bytes", "16m", "--verify"});
}

TEST_P(StressTest, MetadataLockingAndTransferStressorsRunClean) {
  Run({"--symlink",   "2", "--chmod",  "2", "--chown", "2", "--utime", "2", "--xattr",      "2",
       "--fallocate", "2", "--flock",  "2", "--lockf", "2", "--mmap",  "2", "--mmap-bytes", "16m",
       "--sendfile",  "2", "--splice", "2", "--verify"});
}

INSTANTIATE_TEST_SUITE_P(Modes, StressTest,
                         ::testing::Values("default", "writeback=1", "io_uring", "dir_fds=8"),
                         [](const auto& info) { return ModeName(info.param); });

}  // namespace
}  // namespace strata::testing
