// fs/core/dir_fd.h with no kernel mount: the fd budget closes the oldest reopenable fds, a
// lease keeps its fd usable, reopening never follows a symlink, concurrent opens agree; and a
// union walked with a budget far below its directory count stays within it and shows the same
// tree as without one (read-only and writable, copy-up through reopened directories).
#include "fs/core/dir_fd.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fs/core/union_fs.h"
#include "tests/support/layer_builder.h"
#include "tests/support/temp_dir.h"

namespace strata::core {
namespace {

using testing::LayerBuilder;
using testing::TempDir;

size_t OpenFdCount() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

UniqueFd OpenPath(const std::string& path) {
  return UniqueFd(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
}

ino_t InoOf(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

ino_t InoOf(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

class DirFdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LayerBuilder b(dir_.path());
    for (int i = 0; i < kDirs; ++i) b.Dir("a/d" + std::to_string(i));
    root_ = OpenPath(dir_.path());
    ASSERT_TRUE(root_);
  }
  DirFd Make(FdBudget& budget, int i) {
    const std::string rel = "a/d" + std::to_string(i);
    return DirFd::Beneath(OpenPath(dir_ / rel), root_.Get(), rel, &budget);
  }

  static constexpr int kDirs = 40;
  TempDir dir_;
  UniqueFd root_;
};

TEST_F(DirFdTest, BudgetClosesTheOldestAndReopensOnDemand) {
  FdBudget budget(4);
  const size_t before = OpenFdCount();
  std::vector<DirFd> fds;
  for (int i = 0; i < kDirs; ++i) fds.push_back(Make(budget, i));
  EXPECT_LE(OpenFdCount(), before + 4);
  EXPECT_EQ(budget.counted(), 4u);
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kDirs; ++i) {
      auto lease = fds[static_cast<size_t>(i)].Open();
      ASSERT_TRUE(lease) << lease.error().Message();
      EXPECT_EQ(InoOf((*lease)->Get()), InoOf(dir_ / ("a/d" + std::to_string(i))));
      EXPECT_LE(OpenFdCount(), before + 5);  // the budget, and this lease
    }
  }
  EXPECT_GE(budget.reopens(), static_cast<uint64_t>(2 * kDirs - 4));
  // A DirFd that goes away closes its fd, whatever the budget still counts.
  fds.clear();
  EXPECT_EQ(OpenFdCount(), before);
}

TEST_F(DirFdTest, LeaseKeepsItsFdOpenAfterEviction) {
  FdBudget budget(2);
  std::vector<DirFd> fds;
  for (int i = 0; i < 4; ++i) fds.push_back(Make(budget, i));
  auto held = fds[3].Open();
  ASSERT_TRUE(held);
  const int fd = (*held)->Get();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(fds[static_cast<size_t>(i)].Open());
  // d3 was pushed out of the budget, but the lease still names it.
  EXPECT_EQ(InoOf(fd), InoOf(dir_ / "a/d3"));
  // A copy of a DirFd shares its fd.
  DirFd copy = fds[2];
  auto a = copy.Open();
  auto b = fds[2].Open();
  ASSERT_TRUE(a && b);
  EXPECT_EQ((*a)->Get(), (*b)->Get());
}

TEST_F(DirFdTest, ReopenNeverFollowsASymlinkAndReportsAGoneDirectory) {
  FdBudget budget(1);
  DirFd first = Make(budget, 0);
  DirFd second = Make(budget, 1);  // pushes d0's fd out
  // Behind the mount's back, d0 is replaced by a symlink to d5.
  ASSERT_EQ(::rename((dir_ / "a/d0").c_str(), (dir_ / "moved").c_str()), 0);
  ASSERT_EQ(::symlink("d5", (dir_ / "a/d0").c_str()), 0);
  auto lease = first.Open();
  ASSERT_FALSE(lease);
  EXPECT_EQ(lease.error().code, ELOOP);
  EXPECT_NE(lease.error().Message().find("a/d0"), std::string::npos) << lease.error().Message();
  // A symlink on the way is not followed either.
  ASSERT_EQ(::rename((dir_ / "a").c_str(), (dir_ / "b").c_str()), 0);
  ASSERT_EQ(::symlink("b", (dir_ / "a").c_str()), 0);
  DirFd third = Make(budget, 2);  // pushes d1's fd out
  (void)third;
  auto through = second.Open();
  ASSERT_FALSE(through);
  EXPECT_EQ(through.error().code, ELOOP);
  // A directory that is gone is ENOENT.
  DirFd fourth = DirFd::Beneath(OpenPath(dir_ / "b/d7"), root_.Get(), "b/d7", &budget);
  DirFd fifth = Make(budget, 3);  // pushes d7's fd out
  (void)fifth;
  ASSERT_EQ(::rmdir((dir_ / "b/d7").c_str()), 0);
  auto gone = fourth.Open();
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ENOENT);
}

TEST_F(DirFdTest, ConcurrentOpensAgreeOnTheirDirectory) {
  FdBudget budget(3);
  std::vector<DirFd> fds;
  std::vector<ino_t> inos;
  for (int i = 0; i < kDirs; ++i) {
    fds.push_back(Make(budget, i));
    inos.push_back(InoOf(dir_ / ("a/d" + std::to_string(i))));
  }
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 300; ++round) {
        const size_t i = static_cast<size_t>((round * 7 + t * 13) % kDirs);
        auto lease = fds[i].Open();
        if (!lease || InoOf((*lease)->Get()) != inos[i]) wrong.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_LE(budget.counted(), budget.limit());
}

// A union of three layers, each holding the same directories with different files, walked with
// a budget of 8 directories' fds.
class UnionFdBudgetTest : public ::testing::Test {
 protected:
  static constexpr int kDirs = 120;
  static constexpr size_t kBudget = 8;

  void SetUp() override {
    for (int layer = 0; layer < 3; ++layer) {  // bottom first
      const std::string root = dir_ / ("l" + std::to_string(layer));
      LayerBuilder b(root);
      for (int i = 0; i < kDirs; ++i) {
        const std::string d = "top/d" + std::to_string(i % 12) + "/e" + std::to_string(i);
        b.File(d + "/f" + std::to_string(layer), "layer " + std::to_string(layer) + " " + d);
        b.File(d + "/shared", "from layer " + std::to_string(layer));
      }
      layers_.insert(layers_.begin(), root);
    }
  }
  std::unique_ptr<UnionFs> Open(bool writable, size_t budget) {
    UnionConfig config;
    config.lowerdirs = layers_;
    config.dir_fd_budget = budget;
    if (writable) {
      config.upperdir = dir_ / "upper";
      config.workdir = dir_ / "work";
      std::filesystem::create_directories(config.upperdir);
      std::filesystem::create_directories(config.workdir);
    }
    auto fs = UnionFs::Open(config);
    EXPECT_TRUE(fs) << fs.error().Message();
    return fs ? std::move(*fs) : nullptr;
  }
  static std::string Read(UnionFs& fs, InodeId id) {
    auto handle = fs.OpenFile(id, O_RDONLY);
    if (!handle) return "error " + handle.error().Message();
    auto fd = fs.HandleFd(**handle);
    if (!fd) return "error " + fd.error().Message();
    char buf[256];
    const ssize_t n = ::pread(*fd, buf, sizeof buf, 0);
    return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
  }
  // Every name and file content under DIR, depth first, as "path=content" lines; the nodes
  // stay known (no Forget), as the kernel's cache keeps them.
  static void Walk(UnionFs& fs, InodeId dir, const std::string& path, std::string* out) {
    auto entries = fs.ReadDir(dir);
    ASSERT_TRUE(entries) << path << ": " << entries.error().Message();
    for (const DirEntry& e : *entries) {
      if (e.name == "." || e.name == "..") continue;
      auto entry = fs.Lookup(dir, e.name);
      ASSERT_TRUE(entry) << path << "/" << e.name << ": " << entry.error().Message();
      const std::string child = path + "/" + e.name;
      if (S_ISDIR(entry->attr.st_mode)) {
        *out += child + "/\n";
        Walk(fs, entry->id, child, out);
      } else {
        *out += child + "=" + Read(fs, entry->id) + "\n";
      }
    }
  }

  TempDir dir_;
  std::vector<std::string> layers_;  // topmost first
};

TEST_F(UnionFdBudgetTest, WalkStaysWithinTheBudgetAndShowsTheSameTree) {
  std::string unbounded;
  {
    auto fs = Open(false, 100000);
    ASSERT_TRUE(fs);
    Walk(*fs, kRootId, "", &unbounded);
  }
  ASSERT_NE(unbounded.find("/top/d3/e15/f0=layer 0 top/d3/e15"), std::string::npos);
  ASSERT_NE(unbounded.find("/top/d3/e15/shared=from layer 2"), std::string::npos);

  const size_t before = OpenFdCount();
  auto fs = Open(false, kBudget);
  ASSERT_TRUE(fs);
  const size_t opened = OpenFdCount();  // the layer roots, the root's fds
  std::string bounded;
  Walk(*fs, kRootId, "", &bounded);
  EXPECT_EQ(bounded, unbounded);
  // 3 x (1 + 12 + 120) lower directories are known to the union; at most the budget is open.
  EXPECT_LE(OpenFdCount(), opened + kBudget);
  EXPECT_GT(fs->dir_fds().reopens(), 0u);
  // Walked again, everything is served through reopened fds.
  std::string again;
  Walk(*fs, kRootId, "", &again);
  EXPECT_EQ(again, unbounded);
  EXPECT_LE(OpenFdCount(), opened + kBudget);
  fs.reset();
  EXPECT_EQ(OpenFdCount(), before);
}

TEST_F(UnionFdBudgetTest, CopyUpThroughReopenedDirectories) {
  auto fs = Open(true, kBudget);
  ASSERT_TRUE(fs);
  std::string tree;
  Walk(*fs, kRootId, "", &tree);  // every lower fd opened once, most closed again
  const size_t walked = OpenFdCount();
  // Write into files all over the tree: each copies its parents up from reopened lower fds.
  int written = 0;
  for (int i = 0; i < kDirs; i += 7) {
    auto top = fs->Lookup(kRootId, "top");
    ASSERT_TRUE(top);
    auto d = fs->Lookup(top->id, "d" + std::to_string(i % 12));
    ASSERT_TRUE(d);
    auto e = fs->Lookup(d->id, "e" + std::to_string(i));
    ASSERT_TRUE(e);
    auto f = fs->Lookup(e->id, "shared");
    ASSERT_TRUE(f);
    auto handle = fs->OpenFile(f->id, O_WRONLY | O_APPEND);
    ASSERT_TRUE(handle) << handle.error().Message();
    auto fd = fs->HandleFd(**handle);
    ASSERT_TRUE(fd);
    ASSERT_EQ(::write(*fd, "+", 1), 1);
    ++written;
    EXPECT_EQ(Read(*fs, f->id), "from layer 2+");
    // Listing the copied-up directory still merges its three layers.
    auto entries = fs->ReadDir(e->id);
    ASSERT_TRUE(entries) << entries.error().Message();
    std::set<std::string> names;
    for (const DirEntry& entry : *entries) names.insert(entry.name);
    EXPECT_EQ(names, (std::set<std::string>{".", "..", "f0", "f1", "f2", "shared"}));
  }
  // The upper directories made (top, d*, the e* written to) share the budget.
  EXPECT_GT(written, 10);
  EXPECT_LE(OpenFdCount(), walked + 2);
  std::string after;
  Walk(*fs, kRootId, "", &after);
  EXPECT_NE(after.find("/top/d0/e0/shared=from layer 2+"), std::string::npos);
  EXPECT_NE(after.find("/top/d1/e1/shared=from layer 2\n"), std::string::npos);
}

// Upper directories under a budget of 8: reopened by their current names after renames (also
// across directories and by exchange), a removed one still usable through its node, and
// renames racing with work inside the renamed directories.
TEST_F(UnionFdBudgetTest, UpperDirectoriesAreReopenedByTheirCurrentNames) {
  auto fs = Open(true, kBudget);
  ASSERT_TRUE(fs);
  const Caller root{0, 0};
  auto made = fs->MakeDir(kRootId, "new", 0755, root);
  ASSERT_TRUE(made) << made.error().Message();
  const InodeId top = made->id;
  std::vector<InodeId> subs;
  for (int i = 0; i < 40; ++i) {
    const std::string name = "s" + std::to_string(i);
    auto sub = fs->MakeDir(top, name, 0755, root);
    ASSERT_TRUE(sub) << sub.error().Message();
    subs.push_back(sub->id);
    auto file = fs->Create(sub->id, "f", 0644, O_WRONLY, root);
    ASSERT_TRUE(file) << file.error().Message();
    auto fd = fs->HandleFd(*file->handle);
    ASSERT_TRUE(fd);
    ASSERT_EQ(::pwrite(*fd, name.data(), name.size(), 0), static_cast<ssize_t>(name.size()));
  }
  const size_t made_all = OpenFdCount();
  ASSERT_TRUE(fs->Rename(top, "s3", top, "s3-moved", 0));
  auto d0 = fs->Lookup(kRootId, "top");
  ASSERT_TRUE(d0);
  ASSERT_TRUE(fs->Rename(top, "s4", d0->id, "s4", 0));
  ASSERT_TRUE(fs->Rename(top, "s5", top, "s6", RENAME_EXCHANGE));
  auto gone = fs->MakeDir(top, "gone", 0700, root);
  ASSERT_TRUE(gone);
  ASSERT_TRUE(fs->Rmdir(top, "gone"));

  // Through the nodes (every fd long since pushed out of the budget): the directories where
  // they are now.
  for (int i = 0; i < 40; ++i) {
    const std::string name = "s" + std::to_string(i);
    auto f = fs->Lookup(subs[static_cast<size_t>(i)], "f");
    ASSERT_TRUE(f) << name << ": " << f.error().Message();
    EXPECT_EQ(Read(*fs, f->id), name);
    auto made_here = fs->MakeNode(subs[static_cast<size_t>(i)], "g", S_IFREG | 0644, 0, root);
    EXPECT_TRUE(made_here) << name << ": " << made_here.error().Message();
  }
  EXPECT_TRUE(std::filesystem::exists(dir_ / "upper/new/s3-moved/g"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "upper/top/s4/g"));
  EXPECT_EQ(Read(*fs, fs->Lookup(subs[5], "f")->id), "s5");
  EXPECT_TRUE(std::filesystem::exists(dir_ / "upper/new/s6/f"));
  // The removed directory: attributes and an empty listing, as ext4 gives for one still open.
  auto attr = fs->GetAttr(gone->id);
  ASSERT_TRUE(attr) << attr.error().Message();
  EXPECT_TRUE(S_ISDIR(attr->st_mode));
  auto listing = fs->ReadDir(gone->id);
  ASSERT_TRUE(listing) << listing.error().Message();
  EXPECT_EQ(listing->size(), 2u);
  // Upper directories do not each keep an fd: 40 made, a few more open than the budget.
  EXPECT_LE(OpenFdCount(), made_all + 2);

  // Renames racing with work inside the renamed directories, through their nodes.
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      const std::string a = "s" + std::to_string(10 + t), b = a + "-b";
      for (int round = 0; round < 300; ++round) {
        const bool even = round % 2 == 0;
        if (!fs->Rename(top, even ? a : b, top, even ? b : a, 0)) failures.fetch_add(1);
      }
      stop = true;
    });
  }
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      const InodeId dir = subs[static_cast<size_t>(10 + t)];
      for (int n = 0; !stop || n < 50; ++n) {
        const std::string name = "w" + std::to_string(n);
        if (!fs->MakeNode(dir, name, S_IFREG | 0644, 0, root)) failures.fetch_add(1);
        if (!fs->GetAttr(dir) || !fs->ReadDir(dir)) failures.fetch_add(1);
        if (!fs->Unlink(dir, name)) failures.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(fs->dir_fds().reopens(), 40u);
}

}  // namespace
}  // namespace strata::core
