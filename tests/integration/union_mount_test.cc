// The read-only union through a real FUSE mount: data paths (read, mmap, lseek), directory
// streams, xattrs, inode stability across remounts, scale and concurrency.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "fs/base/unique_fd.h"
#include "tests/support/layer_builder.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tree_dump.h"

namespace strata::testing {
namespace {

class UnionMountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    ::mkdir(mnt_.c_str(), 0755);
  }
  void TearDown() override {
    // Every daemon must have exited cleanly (under ASan: without leaks).
    for (auto& m : mounts_) EXPECT_EQ(m->Stop(), 0) << "stratafs stderr: " << m->Stderr();
  }
  StrataMount* Mount(const std::vector<std::string>& layers_top_first) {
    mounts_.push_back(std::make_unique<StrataMount>(
        std::vector<std::string>{"-o", LowerdirOption(layers_top_first)}, mnt_));
    EXPECT_TRUE(mounts_.back()->ok()) << mounts_.back()->error();
    return mounts_.back().get();
  }
  std::string M(const std::string& rel) const { return mnt_ + "/" + rel; }

  TempDir dir_;
  std::string mnt_ = dir_ / "mnt";
  std::vector<std::unique_ptr<StrataMount>> mounts_;
};

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

TEST_F(UnionMountTest, WritesFailWithErofs) {
  LayerBuilder(dir_ / "l0").File("f", "x").Dir("d");
  Mount({dir_ / "l0"});
  EXPECT_EQ(::open(M("f").c_str(), O_WRONLY), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::open(M("new").c_str(), O_CREAT | O_WRONLY, 0644), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::mkdir(M("d2").c_str(), 0755), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::unlink(M("f").c_str()), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::rename(M("f").c_str(), M("g").c_str()), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::chmod(M("f").c_str(), 0600), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::setxattr(M("f").c_str(), "user.x", "1", 1, 0), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(::access(M("f").c_str(), W_OK), -1);
  EXPECT_EQ(errno, EROFS);
}

TEST_F(UnionMountTest, LargeFilesReadMmapAndSeekHoles) {
  const std::string big = RandomBytes(24 << 20, 7);
  LayerBuilder l0(dir_ / "l0");
  l0.File("big", big).SparseFile("sparse", 64 << 20, 40 << 20, "island");
  LayerBuilder(dir_ / "l1").File("other");
  Mount({dir_ / "l1", dir_ / "l0"});

  // read(2) in odd-sized chunks
  UniqueFd fd(::open(M("big").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.Valid());
  std::string got;
  std::vector<char> buf(100003);
  for (ssize_t n; (n = ::read(fd.Get(), buf.data(), buf.size())) > 0;) got.append(buf.data(), n);
  EXPECT_TRUE(got == big) << "read returned different data (" << got.size() << " bytes)";

  // mmap
  void* map = ::mmap(nullptr, big.size(), PROT_READ, MAP_PRIVATE, fd.Get(), 0);
  ASSERT_NE(map, MAP_FAILED);
  EXPECT_EQ(XXH3_64bits(map, big.size()), XXH3_64bits(big.data(), big.size()));
  ::munmap(map, big.size());

  // SEEK_DATA / SEEK_HOLE pass through to the layer file
  UniqueFd sp(::open(M("sparse").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(sp.Valid());
  const off_t data = ::lseek(sp.Get(), 0, SEEK_DATA);
  EXPECT_GE(data, 0);
  EXPECT_LE(data, off_t{40} << 20);
  // With the writeback cache the kernel answers lseek itself: every byte is data (README).
  if (!ExtraModeHas("writeback=1")) {
    EXPECT_GT(data, 0) << "the start of the file is a hole";
  }
  const off_t hole = ::lseek(sp.Get(), data, SEEK_HOLE);
  EXPECT_GT(hole, data);
  char island[6];
  ASSERT_EQ(::pread(sp.Get(), island, 6, off_t{40} << 20), 6);
  EXPECT_EQ(std::string(island, 6), "island");
}

TEST_F(UnionMountTest, DirectoryOffsetsAreStable) {
  LayerBuilder l0(dir_ / "l0"), l1(dir_ / "l1");
  for (int i = 0; i < 600; ++i) (i % 2 ? l0 : l1).File("d/f" + std::to_string(i));
  Mount({dir_ / "l1", dir_ / "l0"});
  DIR* d = ::opendir(M("d").c_str());
  ASSERT_NE(d, nullptr);
  std::vector<std::pair<long, std::string>> seen;
  while (struct dirent* de = ::readdir(d)) seen.push_back({::telldir(d), de->d_name});
  EXPECT_EQ(seen.size(), 602u);
  // seekdir to every recorded position returns the entry that followed it.
  for (size_t i = 0; i + 1 < seen.size(); i += 37) {
    ::seekdir(d, seen[i].first);
    struct dirent* de = ::readdir(d);
    ASSERT_NE(de, nullptr);
    EXPECT_EQ(de->d_name, seen[i + 1].second);
  }
  ::rewinddir(d);
  size_t again = 0;
  while (::readdir(d)) ++again;
  EXPECT_EQ(again, seen.size());
  ::closedir(d);
}

TEST_F(UnionMountTest, XattrsVisibleButOverlayPrivateHidden) {
  if (geteuid() != 0) GTEST_SKIP() << "trusted xattrs need root";
  LayerBuilder(dir_ / "l0")
      .File("f")
      .Xattr("f", "user.mine", std::string("a\0b", 3))
      .Xattr("f", "trusted.overlay.origin", "x")
      .Xattr("f", "user.overlay.redirect", "y");
  LayerBuilder(dir_ / "l1").Opaque("d", Encoding::kKernel).Xattr("d", "user.dir", "1");
  Mount({dir_ / "l1", dir_ / "l0"});
  char list[1024];
  ssize_t n = ::listxattr(M("f").c_str(), list, sizeof list);
  ASSERT_GE(n, 0);
  EXPECT_EQ(std::string(list, static_cast<size_t>(n)), std::string("user.mine\0", 10));
  char value[16];
  EXPECT_EQ(::getxattr(M("f").c_str(), "user.mine", value, sizeof value), 3);
  EXPECT_EQ(std::string(value, 3), std::string("a\0b", 3));
  EXPECT_EQ(::getxattr(M("f").c_str(), "user.mine", value, 1), -1);
  EXPECT_EQ(errno, ERANGE);
  EXPECT_EQ(::getxattr(M("f").c_str(), "trusted.overlay.origin", value, sizeof value), -1);
  EXPECT_EQ(errno, ENODATA);
  n = ::listxattr(M("d").c_str(), list, sizeof list);
  EXPECT_EQ(std::string(list, static_cast<size_t>(n)), std::string("user.dir\0", 9));
}

TEST_F(UnionMountTest, InodeNumbersSurviveRemount) {
  LayerBuilder l0(dir_ / "l0");
  l0.File("a/b/c", "1").Hardlink("a/link", "a/b/c").Symlink("s", "a").Fifo("p");
  LayerBuilder(dir_ / "l1").File("a/b/d").File("top");
  Tree first, second;
  Mount({dir_ / "l1", dir_ / "l0"});
  first = DumpTree(mnt_);
  EXPECT_EQ(mounts_.back()->Stop(), 0);
  Mount({dir_ / "l1", dir_ / "l0"});
  ::system(("cat " + mnt_ + "/a/b/c > /dev/null").c_str());
  second = DumpTree(mnt_);
  ASSERT_EQ(first.size(), second.size());
  for (const auto& [path, e] : first) EXPECT_EQ(e.ino, second.at(path).ino) << path;
  EXPECT_EQ(first.at("/a/link").ino, first.at("/a/b/c").ino);
  EXPECT_EQ(first.at("/a/link").nlink, 2u);
  EXPECT_EQ(first.at("/p").type, 'p');
  EXPECT_EQ(first.at("/s").link, "a");
  EXPECT_EQ(CheckInodes(first, first), "");
}

TEST_F(UnionMountTest, HundredThousandEntriesMerged) {
  // 60,000 + 60,000 names overlapping by 20,000, 100,000 distinct, some whited out.
  LayerBuilder l0(dir_ / "l0"), l1(dir_ / "l1");
  for (int i = 0; i < 60000; ++i) l0.File("big/n" + std::to_string(i));
  for (int i = 40000; i < 100000; ++i) l1.File("big/n" + std::to_string(i));
  for (int i = 0; i < 500; ++i) l1.Whiteout("big/n" + std::to_string(i), Encoding::kOci);
  Mount({dir_ / "l1", dir_ / "l0"});
  DIR* d = ::opendir(M("big").c_str());
  ASSERT_NE(d, nullptr);
  std::set<std::string> names;
  while (struct dirent* de = ::readdir(d)) {
    ASSERT_TRUE(names.insert(de->d_name).second) << "listed twice: " << de->d_name;
  }
  ::closedir(d);
  EXPECT_EQ(names.size(), 2u + 100000u - 500u);
  // `ls -l`-style: stat every entry (readdirplus + lookups through the kernel).
  int stats = 0;
  for (const std::string& n : names) {
    struct stat st;
    if (n != "." && n != ".." && ::lstat(M("big/" + n).c_str(), &st) == 0) ++stats;
  }
  EXPECT_EQ(stats, 100000 - 500);
}

TEST_F(UnionMountTest, ConcurrentReadersSeeConsistentData) {
  LayerBuilder l0(dir_ / "l0"), l1(dir_ / "l1");
  std::vector<std::string> contents;
  for (int i = 0; i < 64; ++i) {
    contents.push_back(RandomBytes(1000 + 997 * static_cast<size_t>(i), static_cast<uint64_t>(i)));
    (i % 2 ? l0 : l1)
        .File("dir" + std::to_string(i % 8) + "/f" + std::to_string(i), contents.back());
  }
  Mount({dir_ / "l1", dir_ / "l0"});
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 40; ++round) {
        const int i = (t * 13 + round * 7) % 64;
        std::ifstream in(M("dir" + std::to_string(i % 8) + "/f" + std::to_string(i)),
                         std::ios::binary);
        std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        if (data != contents[static_cast<size_t>(i)]) ++errors;
        DIR* d = ::opendir(M("dir" + std::to_string(round % 8)).c_str());
        int n = 0;
        while (d && ::readdir(d)) ++n;
        if (d) ::closedir(d);
        if (n != 2 + 8) ++errors;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
}

}  // namespace
}  // namespace strata::testing

namespace strata::testing {
namespace {

// chattr/lsattr (the kernel's fileattr ioctls) through a writable mount: flags of lower files
// show, setting one copies up, and the flag then acts (append-only refuses an overwrite).
TEST(FileAttrTest, ChattrAndLsattrThroughTheMount) {
  const std::string why = MountUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << why;
  if (::access("/usr/bin/chattr", X_OK) != 0) GTEST_SKIP() << "needs chattr (e2fsprogs)";
  if (ExtraModeHas("writeback=1")) GTEST_SKIP() << "writeback=1 refuses chattr +a on files";
  TempDir dir;
  LayerBuilder(dir / "l").File("f", "x\n");
  for (const char* d : {"u", "w", "m"}) ::mkdir((dir / d).c_str(), 0755);
  if (RunCommand({"/usr/bin/chattr", "+A", dir / "l/f"}).exit_code != 0) {
    GTEST_SKIP() << "the test directory's filesystem has no inode flags";
  }
  StrataMount mount(
      {"-o", "lowerdir=" + (dir / "l") + ",upperdir=" + (dir / "u") + ",workdir=" + (dir / "w")},
      dir / "m");
  ASSERT_TRUE(mount.ok()) << mount.error();
  CommandResult ls = RunCommand({"/usr/bin/lsattr", dir / "m/f"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(ls.out.substr(0, ls.out.find(' ')).find('A'), 7u) << ls.out;
  CommandResult set = RunCommand({"/usr/bin/chattr", "+a", dir / "m/f"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_NE(RunCommand({"/usr/bin/lsattr", dir / "u/f"}).out.find("-a-A"), std::string::npos)
      << "copied up with the flag";
  EXPECT_EQ(RunCommand({"/bin/sh", "-c", "echo more >> " + (dir / "m/f")}).exit_code, 0);
  EXPECT_NE(RunCommand({"/bin/sh", "-c", "echo new > " + (dir / "m/f")}).exit_code, 0)
      << "append-only refuses an overwrite";
  EXPECT_EQ(RunCommand({"/usr/bin/chattr", "-a", dir / "m/f"}).exit_code, 0);
  EXPECT_EQ(RunCommand({"/usr/bin/lsattr", dir / "l/f"}).out.find("-a-"), std::string::npos)
      << "the lower file keeps its flags";
  EXPECT_EQ(mount.Stop(), 0) << mount.Stderr();
}

// With the writeback cache the kernel takes writes it flushes later, blind to inode flags: a
// file made append-only or immutable would accept writes that then fail when flushed (found
// by stress-ng iomix: EPERM from the flush, EIO from the next write). Those two flags are
// refused on files there; other flags, and directories, are not.
TEST(FileAttrTest, WritebackCacheRefusesWriteBarriersOnFiles) {
  const std::string why = MountUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << why;
  if (::access("/usr/bin/chattr", X_OK) != 0) GTEST_SKIP() << "needs chattr (e2fsprogs)";
  TempDir dir;
  LayerBuilder(dir / "l").File("f", "x\n").Dir("d");
  for (const char* d : {"u", "w", "m"}) ::mkdir((dir / d).c_str(), 0755);
  if (RunCommand({"/usr/bin/chattr", "+A", dir / "l/f"}).exit_code != 0) {
    GTEST_SKIP() << "the test directory's filesystem has no inode flags";
  }
  StrataMount mount({"-o", "lowerdir=" + (dir / "l") + ",upperdir=" + (dir / "u") +
                               ",workdir=" + (dir / "w") + ",writeback=1"},
                    dir / "m");
  ASSERT_TRUE(mount.ok()) << mount.error();
  const std::string f = dir / "m/f";
  UniqueFd fd(::open(f.c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(fd);
  const std::string data(100000, 'd');
  ASSERT_EQ(::pwrite(fd.Get(), data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  for (const char* flag : {"+a", "+i"}) {
    const CommandResult set = RunCommand({"/usr/bin/chattr", flag, f});
    EXPECT_NE(set.exit_code, 0) << flag;
    EXPECT_NE(set.err.find("Operation not supported"), std::string::npos) << set.err;
  }
  EXPECT_EQ(RunCommand({"/usr/bin/chattr", "+s", f}).exit_code, 0) << "other flags are fine";
  ASSERT_EQ(::pwrite(fd.Get(), "late", 4, 10), 4);
  EXPECT_EQ(::fsync(fd.Get()), 0) << std::strerror(errno);
  fd.Reset();
  std::ifstream in(dir / "u/f", std::ios::binary);
  std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(got == data.substr(0, 10) + "late" + data.substr(14)) << "nothing lost";
  EXPECT_EQ(RunCommand({"/usr/bin/chattr", "+a", dir / "m/d"}).exit_code, 0);
  EXPECT_EQ(RunCommand({"/usr/bin/chattr", "-a", dir / "m/d"}).exit_code, 0);
  EXPECT_EQ(mount.Stop(), 0) << mount.Stderr();
}

}  // namespace
}  // namespace strata::testing
