// Reliability checks of the daemon that need no load generator: memcheck (valgrind) clean on a
// short workload, no descriptor growth after thousands of open/close cycles (and the daemon's
// RSS reported before and after), hundreds of mount/unmount cycles leaving nothing behind, and
// a daemon allowed few descriptors serving a tree of many more directories (the fd budget).
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "fs/base/mount_table.h"
#include "fs/base/unique_fd.h"
#include "tests/support/file_data.h"
#include "tests/support/layer_builder.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/process_stats.h"
#include "tests/support/temp_dir.h"

namespace strata::testing {
namespace {

class ReliabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    LayerBuilder lower(dir_ / "lower");
    for (int i = 0; i < 50; ++i)
      lower.File("d/f" + std::to_string(i), std::string(4096, 'a' + i % 26));
    lower.File("h1", "linked\n").Hardlink("h2", "h1").Symlink("link", "h1");
    for (const char* d : {"upper", "work", "mnt"}) ::mkdir((dir_ / d).c_str(), 0755);
  }
  std::vector<std::string> Args() {
    return {"-o", LowerdirOption({dir_ / "lower"}) + ",upperdir=" + (dir_ / "upper") +
                      ",workdir=" + (dir_ / "work")};
  }
  // Every kind of operation once or a few times: creates, writes, reads, copy-ups of lower
  // files, renames, links, unlinks, directories, xattrs, listings.
  void Workload(const std::string& m) {
    for (int i = 0; i < 20; ++i) {
      const std::string f = m + "/new" + std::to_string(i);
      std::ofstream(f) << "data " << i << "\n";
      EXPECT_EQ(ReadPath(f), "data " + std::to_string(i) + "\n");
      ASSERT_EQ(::rename(f.c_str(), (f + ".moved").c_str()), 0);
    }
    for (int i = 0; i < 10; ++i) {
      const std::string f = m + "/d/f" + std::to_string(i);
      std::ofstream(f, std::ios::app) << "appended";  // copy-up
      ASSERT_EQ(::chmod((m + "/d/f" + std::to_string(i + 10)).c_str(), 0600), 0);
      ASSERT_EQ(::unlink((m + "/d/f" + std::to_string(i + 20)).c_str()), 0);
    }
    ASSERT_EQ(::link((m + "/h1").c_str(), (m + "/h3").c_str()), 0);
    ASSERT_EQ(::mkdir((m + "/dir").c_str(), 0755), 0);
    ASSERT_EQ(::rename((m + "/d").c_str(), (m + "/dir/d").c_str()), 0);
    ASSERT_EQ(::setxattr((m + "/h1").c_str(), "user.k", "v", 1, 0), 0);
    char buf[64];
    EXPECT_EQ(::getxattr((m + "/h3").c_str(), "user.k", buf, sizeof buf), 1);
    EXPECT_EQ(ReadPath(m + "/link"), "linked\n");
    size_t entries = 0;
    if (DIR* d = ::opendir((m + "/dir/d").c_str())) {
      while (::readdir(d)) ++entries;
      ::closedir(d);
    }
    EXPECT_EQ(entries, 2u + 40u);
  }
  TempDir dir_;
};

TEST_F(ReliabilityTest, MemcheckIsCleanOnAShortWorkload) {
  if (::access("/usr/bin/valgrind", X_OK) != 0) GTEST_SKIP() << "valgrind is not installed";
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "this build's daemon runs under a sanitizer, which valgrind cannot host";
#endif
  if (ExtraModeHas("io_uring")) GTEST_SKIP() << "valgrind does not know FUSE over io_uring";
  StrataMount m({"/usr/bin/valgrind", "-q", "--error-exitcode=99", "--leak-check=full",
                 "--errors-for-leak-kinds=definite", "--track-fds=no"},
                STRATAFS_PATH, Args(), dir_ / "mnt");
  ASSERT_TRUE(m.ok()) << m.error();
  Workload(dir_ / "mnt");
  EXPECT_EQ(m.Stop(), 0) << "memcheck found errors or definite leaks:\n" << m.Stderr();
}

TEST_F(ReliabilityTest, ThousandsOfOpensLeaveNoDescriptorsBehind) {
  StrataMount m(Args(), dir_ / "mnt");
  ASSERT_TRUE(m.ok()) << m.error();
  const std::string mnt = dir_ / "mnt";
  std::ofstream(mnt + "/upper-file") << "upper\n";
  // Warm up with one round of what is measured: every path looked up, every descriptor the
  // daemon keeps for reuse (a directory's layers, a node's real file) opened once.
  auto round = [&] {
    for (int i = 0; i < 50; ++i) {
      const std::string f = mnt + "/d/f" + std::to_string(i);
      UniqueFd fd(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
      ASSERT_TRUE(fd) << f;
      char c;
      ASSERT_EQ(::read(fd.Get(), &c, 1), 1);
    }
    UniqueFd w(::open((mnt + "/upper-file").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
    ASSERT_TRUE(w);
    ASSERT_EQ(::write(w.Get(), "x", 1), 1);
  };
  round();
  ::usleep(100000);  // the kernel releases the last files asynchronously
  const size_t fds_before = OpenFds(m.pid(), /*files_only=*/true);
  const size_t all_before = OpenFds(m.pid());
  const long rss_before = RssKiB(m.pid());
  for (int r = 0; r < 100; ++r) {
    round();
    if (HasFatalFailure()) return;
  }
  // The kernel may keep the last files open a moment (release is asynchronous).
  size_t fds_after = OpenFds(m.pid(), true);
  for (int i = 0; i < 50 && fds_after > fds_before; ++i) {
    ::usleep(20000);
    fds_after = OpenFds(m.pid(), true);
  }
  const size_t all_after = OpenFds(m.pid());
  const long rss_after = RssKiB(m.pid());
  std::printf(
      "daemon after 5,100 open/close cycles: %zu -> %zu descriptors of files "
      "(%zu -> %zu with the workers' /dev/fuse clones), RSS %ld -> %ld KiB\n",
      fds_before, fds_after, all_before, all_after, rss_before, rss_after);

  EXPECT_LE(fds_after, fds_before) << "descriptors of files leaked";
  EXPECT_EQ(m.Stop(), 0) << m.Stderr();
}

TEST_F(ReliabilityTest, HundredsOfMountCyclesLeaveNothingBehind) {
  const size_t own_fds = OpenFds(::getpid());
  const size_t mounts = MountPointsUnder("/").size();
  for (int i = 0; i < 200; ++i) {
    StrataMount m(Args(), dir_ / "mnt");
    ASSERT_TRUE(m.ok()) << "cycle " << i << ": " << m.error();
    if (i % 20 == 0) std::ofstream(dir_ / "mnt/cycle") << i;
    ASSERT_EQ(m.Stop(), 0) << "cycle " << i << ": " << m.Stderr();
  }
  EXPECT_EQ(OpenFds(::getpid()), own_fds) << "this process's descriptors";
  EXPECT_EQ(MountPointsUnder("/").size(), mounts) << "mounts left";
  EXPECT_EQ(ReadPath(dir_ / "upper/cycle"), "180") << "the last write of a cycle kept";
}

// The daemon may open 512 descriptors; the kernel keeps every directory of a walked tree, and
// three lower layers hold 3 x 1,249 of them: directories' fds stay within the budget (a
// quarter of the limit, 128), reopened on demand, so nothing fails with EMFILE, while three
// walkers read every file at once, then files all over the tree are copied up and 600 new
// directories made.
TEST_F(ReliabilityTest, FewDescriptorsServeATreeOfManyDirectories) {
  constexpr int kOuter = 32, kInner = 38;  // 1,216 leaf directories per layer
  std::vector<std::string> layers;
  for (int layer = 0; layer < 3; ++layer) {
    const std::string root = dir_ / ("big" + std::to_string(layer));
    LayerBuilder b(root);
    for (int i = 0; i < kOuter; ++i) {
      for (int j = 0; j < kInner; ++j) {
        const std::string d = "t/d" + std::to_string(i) + "/e" + std::to_string(j);
        b.File(d + "/f" + std::to_string(layer), d + " in layer " + std::to_string(layer));
      }
    }
    layers.insert(layers.begin(), root);
  }
  StrataMount m({"/usr/bin/prlimit", "--nofile=512:512", "--"}, DaemonUnderTest(),
                {"-o", LowerdirOption(layers) + ",upperdir=" + (dir_ / "upper") +
                           ",workdir=" + (dir_ / "work")},
                dir_ / "mnt");
  ASSERT_TRUE(m.ok()) << m.error();
  const std::string mnt = dir_ / "mnt";

  std::atomic<int> wrong{0};
  std::atomic<size_t> most_fds{0};
  auto walk = [&](int start) {
    for (int n = 0; n < kOuter; ++n) {
      const int i = (start + n) % kOuter;
      for (int j = 0; j < kInner; ++j) {
        const std::string d = "t/d" + std::to_string(i) + "/e" + std::to_string(j);
        for (int layer = 0; layer < 3; ++layer) {
          const std::string want = d + " in layer " + std::to_string(layer);
          if (ReadPath(mnt + "/" + d + "/f" + std::to_string(layer)) != want) wrong.fetch_add(1);
        }
      }
      const size_t fds = OpenFds(m.pid(), /*files_only=*/true);
      for (size_t seen = most_fds.load();
           fds > seen && !most_fds.compare_exchange_weak(seen, fds);) {
      }
    }
  };
  std::vector<std::thread> walkers;
  for (int w = 0; w < 3; ++w) walkers.emplace_back(walk, w * kOuter / 3);
  for (auto& t : walkers) t.join();
  EXPECT_EQ(wrong.load(), 0) << "files read wrong or not at all";

  // Appends all over the tree: each copies its directories up, reading the lower ones through
  // reopened fds.
  for (int i = 0; i < kOuter; ++i) {
    const std::string f = mnt + "/t/d" + std::to_string(i) + "/e" + std::to_string(i) + "/f1";
    std::ofstream(f, std::ios::app) << "+";
    EXPECT_EQ(ReadPath(f), "t/d" + std::to_string(i) + "/e" + std::to_string(i) + " in layer 1+");
  }
  // More new directories than the daemon may hold descriptors, each with a file.
  ASSERT_EQ(::mkdir((mnt + "/made").c_str(), 0755), 0);
  for (int i = 0; i < 600; ++i) {
    const std::string d = mnt + "/made/" + std::to_string(i);
    ASSERT_EQ(::mkdir(d.c_str(), 0755), 0) << d << ": " << std::strerror(errno);
    std::ofstream(d + "/f") << i;
  }
  for (int i = 0; i < 600; i += 37) {
    EXPECT_EQ(ReadPath(mnt + "/made/" + std::to_string(i) + "/f"), std::to_string(i));
  }
  size_t entries = 0;
  if (DIR* d = ::opendir((mnt + "/t/d5/e5").c_str())) {
    while (::readdir(d)) ++entries;
    ::closedir(d);
  }
  EXPECT_EQ(entries, 2u + 3u) << "a copied-up directory merges its three layers";
  const size_t fds = OpenFds(m.pid(), true);
  std::printf(
      "daemon limited to 512 descriptors, 3,747 lower directories walked: at most %zu "
      "descriptors of files while walking, %zu after copy-ups and 600 new directories\n",
      most_fds.load(), fds);
  // The budget, the layer roots and the root's directories, the workdir, files being read.
  EXPECT_LE(most_fds.load(), 128u + 24u);
  EXPECT_LE(fds, 128u + 24u);
  EXPECT_EQ(m.Stderr().find("Too many open files"), std::string::npos) << m.Stderr();
  EXPECT_EQ(m.Stop(), 0) << m.Stderr();
}

}  // namespace
}  // namespace strata::testing
