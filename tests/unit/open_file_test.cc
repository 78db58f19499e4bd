// fs/core's open files and node identity with no kernel: handles follow their node across a
// copy-up (also one made through another hard link), a file whose names are all gone stays
// usable through its handle and its node, inode numbers an upper filesystem reuses never alias
// a node, and the kernel is told when a node's attributes change behind its back.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <vector>

#include "fs/core/union_fs.h"
#include "tests/support/layer_builder.h"
#include "tests/support/temp_dir.h"

namespace strata::core {
namespace {

using testing::LayerBuilder;
using testing::TempDir;

// Records what the core tells the kernel.
class RecordingCache : public KernelCache {
 public:
  void InvalidateAttr(InodeId id) override { invalidated.push_back(id.value); }
  std::vector<uint64_t> invalidated;
};

class OpenFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LayerBuilder(dir_ / "l0")
        .File("f", "lower data")
        .File("h1", "linked")
        .Hardlink("h2", "h1")
        .Dir("d");
    ::mkdir((dir_ / "u").c_str(), 0755);
    ::mkdir((dir_ / "w").c_str(), 0755);
    UnionConfig config;
    config.lowerdirs = {dir_ / "l0"};
    config.upperdir = dir_ / "u";
    config.workdir = dir_ / "w";
    auto fs = UnionFs::Open(config);
    ASSERT_TRUE(fs) << fs.error().Message();
    fs_ = std::move(*fs);
    fs_->SetKernelCache(&cache_);
  }
  void TearDown() override {
    if (fs_) fs_->SetKernelCache(nullptr);
  }
  Entry Look(InodeId parent, const std::string& name) {
    auto e = fs_->Lookup(parent, name);
    EXPECT_TRUE(e) << name << ": " << e.error().Message();
    return e ? *e : Entry{};
  }
  std::unique_ptr<FileHandle> Open(InodeId id, int flags) {
    auto h = fs_->OpenFile(id, flags);
    EXPECT_TRUE(h) << h.error().Message();
    return h ? std::move(*h) : nullptr;
  }
  std::string ReadAll(FileHandle& h) {
    auto fd = fs_->HandleFd(h);
    EXPECT_TRUE(fd) << fd.error().Message();
    std::string out(4096, '\0');
    const ssize_t n = fd ? ::pread(*fd, out.data(), out.size(), 0) : -1;
    out.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return out;
  }
  void Write(FileHandle& h, const std::string& data, off_t off) {
    auto fd = fs_->HandleFd(h);
    ASSERT_TRUE(fd) << fd.error().Message();
    ASSERT_EQ(::pwrite(*fd, data.data(), data.size(), off), static_cast<ssize_t>(data.size()));
  }
  // Names in DIR of the real filesystem, "." and ".." left out.
  std::set<std::string> RealNames(const std::string& dir) {
    std::set<std::string> names;
    if (DIR* d = ::opendir(dir.c_str())) {
      while (const struct dirent* de = ::readdir(d)) {
        const std::string n = de->d_name;
        if (n != "." && n != "..") names.insert(n);
      }
      ::closedir(d);
    }
    return names;
  }

  TempDir dir_;
  RecordingCache cache_;
  std::unique_ptr<UnionFs> fs_;
};

// Only handles whose real file can never change may be handed to the kernel (passthrough).
TEST_F(OpenFileTest, HandlesOnUpperFilesAreSettled) {
  const Entry f = Look(kRootId, "f");
  auto lower_reader = Open(f.id, O_RDONLY);
  EXPECT_FALSE(lower_reader->settled()) << "a lower file may still be copied up";
  auto writer = Open(f.id, O_WRONLY);
  EXPECT_TRUE(writer->settled()) << "opened after its copy-up";
  auto upper_reader = Open(f.id, O_RDONLY);
  EXPECT_TRUE(upper_reader->settled());
  EXPECT_FALSE(lower_reader->settled()) << "settled-ness is the handle's, fixed at open";
  auto made = fs_->Create(kRootId, "new", 0644, O_RDWR, Caller{0, 0});
  ASSERT_TRUE(made) << made.error().Message();
  EXPECT_TRUE(made->handle->settled());

  UnionConfig ro;
  ro.lowerdirs = {dir_ / "l0"};
  auto read_only = UnionFs::Open(ro);
  ASSERT_TRUE(read_only) << read_only.error().Message();
  auto e = (*read_only)->Lookup(kRootId, "f");
  ASSERT_TRUE(e);
  auto h = (*read_only)->OpenFile(e->id, O_RDONLY);
  ASSERT_TRUE(h);
  EXPECT_TRUE((*h)->settled()) << "nothing is ever copied up without an upper layer";
}

TEST_F(OpenFileTest, ReadOnlyHandleFollowsACopyUp) {
  const Entry f = Look(kRootId, "f");
  auto reader = Open(f.id, O_RDONLY);
  EXPECT_EQ(ReadAll(*reader), "lower data");
  auto writer = Open(f.id, O_WRONLY);  // copies up
  Write(*writer, "UPPER", 0);
  Write(*writer, " and more", 10);
  EXPECT_EQ(ReadAll(*reader), "UPPER data and more") << "the handle opened on the lower file";
  auto fd = fs_->HandleFd(*reader);
  ASSERT_TRUE(fd);
  struct stat st;
  ASSERT_EQ(::fstat(*fd, &st), 0);
  EXPECT_EQ(st.st_size, 19);
  EXPECT_EQ(cache_.invalidated, std::vector<uint64_t>{f.id.value}) << "told the kernel once";
}

TEST_F(OpenFileTest, HandleFollowsACopyUpThroughAnotherHardLink) {
  const Entry h1 = Look(kRootId, "h1");
  const Entry h2 = Look(kRootId, "h2");
  ASSERT_EQ(h1.id, h2.id) << "hard links share a node";
  auto reader = Open(h2.id, O_RDONLY);
  auto writer = Open(h1.id, O_WRONLY | O_TRUNC);
  Write(*writer, "new", 0);
  EXPECT_EQ(ReadAll(*reader), "new");
}

TEST_F(OpenFileTest, FileWithoutNamesStaysUsable) {
  auto made = fs_->Create(kRootId, "tmp", 0600, O_RDWR, Caller{});
  ASSERT_TRUE(made) << made.error().Message();
  const InodeId id = made->entry.id;
  FileHandle& h = *made->handle;
  Write(h, "scratch", 0);
  ASSERT_TRUE(fs_->Unlink(kRootId, "tmp"));
  EXPECT_FALSE(RealNames(dir_ / "u").count("tmp"));
  EXPECT_EQ(fs_->Lookup(kRootId, "tmp").error().code, ENOENT);
  auto st = fs_->GetAttr(id);
  ASSERT_TRUE(st) << st.error().Message();
  EXPECT_EQ(st->st_nlink, 0u);
  EXPECT_EQ(st->st_size, 7);
  Write(h, "!", 7);
  EXPECT_EQ(ReadAll(h), "scratch!");
  AttrChange truncate;
  truncate.size = 3;
  auto after = fs_->SetAttr(id, truncate);
  ASSERT_TRUE(after) << after.error().Message();
  EXPECT_EQ(after->st_size, 3);
  ASSERT_TRUE(fs_->SetXattr(id, "user.k", "v", 0));
  EXPECT_EQ(*fs_->GetXattr(id, "user.k"), "v");
  // Another open of it (as through /proc/PID/fd) works too.
  auto again = Open(id, O_RDONLY);
  EXPECT_EQ(ReadAll(*again), "scr");
  // Once the kernel lets go, nothing of it is left in the upper layer or the workdir.
  made->handle.reset();
  again.reset();
  fs_->Forget(id, 1);
  EXPECT_EQ(RealNames(dir_ / "u"), std::set<std::string>{});
  EXPECT_EQ(RealNames(dir_ / "w/work"), std::set<std::string>{});
}

TEST_F(OpenFileTest, UnlinkedLowerFileKeepsItsData) {
  const Entry f = Look(kRootId, "f");
  auto reader = Open(f.id, O_RDONLY);
  ASSERT_TRUE(fs_->Unlink(kRootId, "f"));
  EXPECT_EQ(ReadAll(*reader), "lower data");
  EXPECT_EQ(fs_->GetAttr(f.id)->st_nlink, 0u) << "no name is left (ext4 says 0)";
  // Opened for writing now, it is copied to an object with no name: the name stays deleted.
  auto writer = Open(f.id, O_RDWR);
  Write(*writer, "X", 0);
  EXPECT_EQ(ReadAll(*reader), "Xower data");
  EXPECT_EQ(fs_->Lookup(kRootId, "f").error().code, ENOENT);
  std::set<std::string> upper = RealNames(dir_ / "u");
  EXPECT_EQ(upper, std::set<std::string>{"f"}) << "only the whiteout";
  struct stat st;
  ASSERT_EQ(::lstat((dir_ / "u/f").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  writer.reset();
  reader.reset();
  fs_->Forget(f.id, 1);
  EXPECT_EQ(RealNames(dir_ / "w/work"), std::set<std::string>{});
}

TEST_F(OpenFileTest, ReusedInodeNumbersNeverAliasANode) {
  // The upper filesystem (ext4 or tmpfs here) may give a new file the number of one just
  // removed. A node the kernel still holds keeps its object, so its number stays taken; once
  // forgotten, a new object with the number is a new node.
  std::set<uint64_t> held_ids;
  std::vector<InodeId> held;
  for (int i = 0; i < 50; ++i) {
    const std::string name = "n" + std::to_string(i);
    auto made = fs_->MakeNode(kRootId, name, S_IFREG | 0644, 0, Caller{});
    ASSERT_TRUE(made) << made.error().Message();
    EXPECT_TRUE(held_ids.insert(made->id.value).second) << "a new file got a held node";
    for (const InodeId& h : held) {
      EXPECT_NE(made->attr.st_ino, fs_->GetAttr(h)->st_ino) << name << " aliases a held node";
    }
    ASSERT_TRUE(fs_->Unlink(kRootId, name));
    if (i % 2 == 0) {
      held.push_back(made->id);  // the kernel keeps it (an open file, say)
    } else {
      fs_->Forget(made->id, 1);
    }
  }
  for (const InodeId& h : held) {
    auto st = fs_->GetAttr(h);
    ASSERT_TRUE(st) << st.error().Message();
    EXPECT_EQ(st->st_nlink, 0u);
    EXPECT_TRUE(S_ISREG(st->st_mode));
  }
}

TEST_F(OpenFileTest, LinkTellsTheKernelToRereadTheLinkCount) {
  const Entry f = Look(kRootId, "f");
  cache_.invalidated.clear();
  auto linked = fs_->Link(f.id, kRootId, "f2");
  ASSERT_TRUE(linked) << linked.error().Message();
  EXPECT_EQ(linked->attr.st_nlink, 2u);
  EXPECT_NE(std::find(cache_.invalidated.begin(), cache_.invalidated.end(), f.id.value),
            cache_.invalidated.end());
  EXPECT_FALSE(fs_->KernelMayCacheAttr(f.id)) << "a file with several links";
  EXPECT_TRUE(fs_->KernelMayCacheAttr(Look(kRootId, "d").id));
}

}  // namespace
}  // namespace strata::core
