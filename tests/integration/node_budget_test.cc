// The node budget (-o max_nodes, fs/fuse/node_pruner.h): past it the kernel is asked to drop
// the nodes it is not using and forgets them, so a walk of a tree larger than the budget
// looks its names up again; what the kernel still uses (open files, an unlinked open file,
// open directories, hard links) keeps working and keeps its identity, and nodes dropped and
// found again are the same files (st_ino, data, copy-up). The concurrency and directory stream
// tests also run in a max_nodes=16 mode.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "fs/base/unique_fd.h"
#include "tests/support/layer_builder.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"

namespace strata::testing {
namespace {

constexpr int kDirs = 20, kFiles = 100;  // 2,000 files, far past the budgets below

std::string FileRel(int d, int f) { return "t/d" + std::to_string(d) + "/f" + std::to_string(f); }

// Forgets (single or batched) in TRACE after FROM.
int Forgets(const std::string& trace, size_t from) {
  return TraceRequests(trace, from, "FORGET") + TraceRequests(trace, from, "BATCH_FORGET");
}

class NodeBudgetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    if (ExtraMountOptions().find("max_nodes") != std::string::npos) {
      GTEST_SKIP() << "the mode sets the budget itself";
    }
    for (const char* d : {"u", "w", "mnt"}) ::mkdir((dir_ / d).c_str(), 0755);
    LayerBuilder l0(dir_ / "l0");
    for (int d = 0; d < kDirs; ++d) {
      for (int f = 0; f < kFiles; ++f) l0.File(FileRel(d, f), FileRel(d, f));
    }
    l0.File("keep/lower", "lower data");
  }
  void TearDown() override {
    if (mount_) {
      EXPECT_EQ(mount_->Stop(), 0) << "stratafs stderr: " << mount_->Stderr();
    }
  }
  void Mount(const std::string& max_nodes) {
    const std::string opts = LowerdirOption({dir_ / "l0"}) + ",upperdir=" + (dir_ / "u") +
                             ",workdir=" + (dir_ / "w") + ",max_nodes=" + max_nodes;
    mount_ = std::make_unique<StrataMount>(std::vector<std::string>{"-d", "-o", opts}, mnt_);
    ASSERT_TRUE(mount_->ok()) << mount_->error();
  }
  std::string M(const std::string& rel) const { return mnt_ + "/" + rel; }
  // lstat of every file of the tree: st_ino by name.
  std::map<std::string, ino_t> Walk() {
    std::map<std::string, ino_t> inos;
    for (int d = 0; d < kDirs; ++d) {
      for (int f = 0; f < kFiles; ++f) {
        struct stat st {};
        EXPECT_EQ(::lstat(M(FileRel(d, f)).c_str(), &st), 0) << FileRel(d, f);
        inos[FileRel(d, f)] = st.st_ino;
      }
    }
    return inos;
  }
  // Waits (up to 10 s) for the kernel's forgets to show in the trace after FROM.
  int AwaitForgets(size_t from) {
    for (int i = 0; i < 100; ++i) {
      const int n = Forgets(mount_->Stderr(), from);
      if (n > 0) return n;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return 0;
  }

  TempDir dir_;
  const std::string mnt_ = dir_ / "mnt";
  std::unique_ptr<StrataMount> mount_;
};

TEST_F(NodeBudgetTest, AWalkPastTheBudgetIsForgottenAndLooksItsNamesUpAgain) {
  ASSERT_NO_FATAL_FAILURE(Mount("300"));
  const std::map<std::string, ino_t> first = Walk();
  EXPECT_GT(AwaitForgets(0), 0) << "the kernel was asked to drop nodes and forgot them";
  // Copy-ups of files whose nodes were dropped: the new nodes are the same files.
  for (int d = 0; d < kDirs; d += 4) {
    std::ofstream(M(FileRel(d, 7)), std::ios::app) << "+";
  }
  const size_t before = mount_->Stderr().size();
  const std::map<std::string, ino_t> second = Walk();
  EXPECT_EQ(second, first) << "st_ino does not depend on the node";
  const int lookups = TraceRequests(mount_->Stderr(), before, "LOOKUP");
  EXPECT_GE(lookups, kDirs * kFiles - 2 * 300) << "the kernel held some 300 nodes at most";
  for (int d = 0; d < kDirs; ++d) {
    std::ifstream in(M(FileRel(d, 7)));
    const std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(got, FileRel(d, 7) + (d % 4 == 0 ? "+" : ""));
  }
}

// The control: without a budget the kernel keeps every node (no memory pressure here), so a
// second walk asks for nothing; the lookups above are the budget's doing.
TEST_F(NodeBudgetTest, WithoutABudgetASecondWalkLooksNothingUp) {
  ASSERT_NO_FATAL_FAILURE(Mount("0"));
  const std::map<std::string, ino_t> first = Walk();
  const size_t before = mount_->Stderr().size();
  EXPECT_EQ(Walk(), first);
  const std::string trace = mount_->Stderr();
  EXPECT_EQ(TraceRequests(trace, before, "LOOKUP"), 0);
  EXPECT_EQ(Forgets(trace, 0), 0);
}

TEST_F(NodeBudgetTest, WhatTheKernelUsesKeepsWorkingAndKeepsItsIdentity) {
  ASSERT_NO_FATAL_FAILURE(Mount("100"));
  // Open files of a lower file, an upper one, an unlinked one; an open directory; hard links.
  UniqueFd lower(::open(M("keep/lower").c_str(), O_RDWR | O_CLOEXEC));  // copied up on open
  ASSERT_TRUE(lower);
  ASSERT_TRUE(std::ofstream(M("keep/upper")) << "upper data");
  UniqueFd upper(::open(M("keep/upper").c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(upper);
  UniqueFd gone(::open(M("keep/gone").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  ASSERT_TRUE(gone);
  ASSERT_EQ(::pwrite(gone.Get(), "gone data", 9, 0), 9);
  ASSERT_EQ(::unlink(M("keep/gone").c_str()), 0);
  UniqueFd dirfd(::open(M("keep").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(dirfd);
  ASSERT_EQ(::link(M("keep/upper").c_str(), M("keep/upper-link").c_str()), 0);
  struct stat lower_st {
  }, upper_st{}, gone_st{};
  ASSERT_EQ(::fstat(lower.Get(), &lower_st), 0);
  ASSERT_EQ(::fstat(upper.Get(), &upper_st), 0);
  ASSERT_EQ(::fstat(gone.Get(), &gone_st), 0);

  const size_t before = mount_->Stderr().size();
  (void)Walk();
  (void)Walk();
  EXPECT_GT(AwaitForgets(before), 0);

  EXPECT_EQ(PreadAll(lower.Get()), "lower data");
  EXPECT_EQ(PreadAll(upper.Get()), "upper data");
  EXPECT_EQ(PreadAll(gone.Get()), "gone data");
  struct stat st {};
  ASSERT_EQ(::fstat(lower.Get(), &st), 0);
  EXPECT_EQ(st.st_ino, lower_st.st_ino);
  ASSERT_EQ(::fstat(gone.Get(), &st), 0);
  EXPECT_EQ(st.st_ino, gone_st.st_ino);
  EXPECT_EQ(st.st_nlink, 0u);
  // Writes through the open files reach what their names open now, and back.
  ASSERT_EQ(::pwrite(lower.Get(), "LOWER", 5, 0), 5);
  ASSERT_EQ(::pwrite(gone.Get(), "GONE", 4, 0), 4);
  EXPECT_EQ(PreadAll(gone.Get()), "GONE data");
  {
    UniqueFd again(::openat(dirfd.Get(), "lower", O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(again);
    EXPECT_EQ(PreadAll(again.Get()), "LOWER data");
    ASSERT_EQ(::fstat(again.Get(), &st), 0);
    EXPECT_EQ(st.st_ino, lower_st.st_ino);
  }
  // Both names of the hard link are one file, found again by either.
  struct stat a {
  }, b{};
  ASSERT_EQ(::lstat(M("keep/upper-link").c_str(), &b), 0);
  ASSERT_EQ(::lstat(M("keep/upper").c_str(), &a), 0);
  EXPECT_EQ(a.st_ino, upper_st.st_ino);
  EXPECT_EQ(b.st_ino, upper_st.st_ino);
  EXPECT_EQ(a.st_nlink, 2u);
  ASSERT_EQ(::pwrite(upper.Get(), "UPPER", 5, 0), 5);
  std::ifstream in(M("keep/upper-link"));
  const std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, "UPPER data");
  EXPECT_EQ(::access(M("keep/gone").c_str(), F_OK), -1) << "the unlinked name stays gone";
}

}  // namespace
}  // namespace strata::testing
