// Metadata-only copy-up (metacopy=on) in fs/core, over layers in a temp dir, and the metacopy
// files of other writers (kernel overlayfs) followed in any layer: what lands on disk, what
// users see, and when the data follows. Needs root (trusted.overlay.* markers).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <string>

#include "fs/core/union_fs.h"
#include "tests/support/file_data.h"
#include "tests/support/layer_builder.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"

namespace strata::core {
namespace {

using testing::LayerBuilder;
using testing::PreadAll;
using testing::ReadPath;
using testing::SameData;
using testing::TempDir;

constexpr const char* kMarker = "trusted.overlay.metacopy";

// 96 KiB that differ at every offset: enough to have blocks, and to tell copies apart.
std::string Pattern() {
  std::string s(96 * 1024, '\0');
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

bool HasMarker(const std::string& path) {
  return ::lgetxattr(path.c_str(), kMarker, nullptr, 0) >= 0;
}

struct stat Lstat(const std::string& path) {
  struct stat st{};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

// A sparse file of SIZE marked as a metacopy file, optionally redirected, in a directory
// marked impure, as kernel overlayfs leaves one.
void WriteMetacopyFile(const std::string& path, off_t size, const std::string& redirect = "") {
  const std::string dir = path.substr(0, path.rfind('/'));
  ASSERT_EQ(::lsetxattr(dir.c_str(), "trusted.overlay.impure", "y", 1, 0), 0);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::ftruncate(fd, size), 0);
  ::close(fd);
  ASSERT_EQ(::lsetxattr(path.c_str(), kMarker, "", 0, 0), 0);
  if (!redirect.empty()) {
    ASSERT_EQ(::lsetxattr(path.c_str(), "trusted.overlay.redirect", redirect.data(),
                          redirect.size(), 0),
              0);
  }
}

class MetacopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (trusted.overlay.* xattrs)";
    LayerBuilder(dir_ / "l0")
        .File("d/f", Pattern())
        .File("d/empty", "")
        .File("h1", "linked\n")
        .Hardlink("h2", "h1");
    ::mkdir((dir_ / "u").c_str(), 0755);
    ::mkdir((dir_ / "w").c_str(), 0755);
  }
  std::unique_ptr<UnionFs> Mount(bool metacopy = true) {
    UnionConfig config;
    config.lowerdirs = {dir_ / "l0"};
    config.upperdir = dir_ / "u";
    config.workdir = dir_ / "w";
    config.metacopy = metacopy;
    auto fs = UnionFs::Open(config);
    EXPECT_TRUE(fs) << fs.error().Message();
    return fs ? std::move(*fs) : nullptr;
  }
  Entry Look(UnionFs& fs, InodeId parent, const std::string& name) {
    auto e = fs.Lookup(parent, name);
    EXPECT_TRUE(e) << name << ": " << e.error().Message();
    return e ? *e : Entry{};
  }
  // d/f's node in FS.
  Entry File(UnionFs& fs) { return Look(fs, Look(fs, kRootId, "d").id, "f"); }
  std::string Read(UnionFs& fs, InodeId id) {
    auto h = fs.OpenFile(id, O_RDONLY);
    EXPECT_TRUE(h) << h.error().Message();
    return h ? PreadAll(*fs.HandleFd(**h)) : "";
  }
  Status Chmod(UnionFs& fs, InodeId id, mode_t mode) {
    AttrChange change;
    change.mode = mode;
    auto st = fs.SetAttr(id, change);
    return st ? Ok() : Status(Unexpected{st.error()});
  }
  TempDir dir_;
};

TEST_F(MetacopyTest, ChmodCopiesUpMetadataOnly) {
  auto fs = Mount();
  const Entry f = File(*fs);
  const struct stat lower = Lstat(dir_ / "l0/d/f");
  ASSERT_TRUE(Chmod(*fs, f.id, 0600));

  const struct stat upper = Lstat(dir_ / "u/d/f");
  EXPECT_EQ(upper.st_size, lower.st_size);
  EXPECT_LT(upper.st_blocks, lower.st_blocks) << "no data copied (an xattr block at most)";
  EXPECT_TRUE(HasMarker(dir_ / "u/d/f"));
  EXPECT_EQ(upper.st_mode & 07777, 0600u);

  auto st = fs->GetAttr(f.id);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->st_mode & 07777, 0600u);
  EXPECT_EQ(st->st_ino, f.attr.st_ino);
  EXPECT_EQ(st->st_blocks, lower.st_blocks) << "a metacopy file occupies what its data does";
  EXPECT_EQ(st->st_mtim.tv_sec, lower.st_mtim.tv_sec);
  EXPECT_TRUE(SameData(Read(*fs, f.id), Pattern()));
  auto names = fs->ListXattr(f.id);
  ASSERT_TRUE(names);
  EXPECT_EQ(names->find("metacopy"), std::string::npos) << "the marker is private";

  // An empty file has no data to leave below: a plain copy, unmarked.
  const Entry empty = Look(*fs, Look(*fs, kRootId, "d").id, "empty");
  ASSERT_TRUE(Chmod(*fs, empty.id, 0600));
  EXPECT_FALSE(HasMarker(dir_ / "u/d/empty"));
}

TEST_F(MetacopyTest, OpenForWriteCopiesTheDataInPlace) {
  auto fs = Mount();
  const Entry f = File(*fs);
  auto reader = fs->OpenFile(f.id, O_RDONLY);  // opened on the lower file
  ASSERT_TRUE(reader);
  ASSERT_TRUE(Chmod(*fs, f.id, 0600));
  const struct stat meta = Lstat(dir_ / "u/d/f");
  const struct stat attr_before = *fs->GetAttr(f.id);

  {
    auto writer = fs->OpenFile(f.id, O_RDWR);  // completes the copy; writes nothing
    ASSERT_TRUE(writer) << writer.error().Message();
  }
  const struct stat full = Lstat(dir_ / "u/d/f");
  EXPECT_EQ(full.st_ino, meta.st_ino) << "completed in place";
  EXPECT_GT(full.st_blocks, 0);
  EXPECT_FALSE(HasMarker(dir_ / "u/d/f"));
  const struct stat attr_after = *fs->GetAttr(f.id);
  EXPECT_EQ(attr_after.st_mtim.tv_sec, attr_before.st_mtim.tv_sec) << "copy-up is not a write";
  EXPECT_EQ(attr_after.st_mtim.tv_nsec, attr_before.st_mtim.tv_nsec);
  EXPECT_EQ(attr_after.st_mode & 07777, 0600u);

  auto writer = fs->OpenFile(f.id, O_WRONLY);
  ASSERT_TRUE(writer);
  ASSERT_EQ(::pwrite(*fs->HandleFd(**writer), "XYZ", 3, 0), 3);
  std::string want = Pattern();
  want.replace(0, 3, "XYZ");
  EXPECT_TRUE(SameData(PreadAll(*fs->HandleFd(**reader)), want)) << "an older reader follows the data";
  EXPECT_TRUE(SameData(Read(*fs, f.id), want));
  EXPECT_TRUE(SameData(ReadPath(dir_ / "l0/d/f"), Pattern())) << "lower intact";
}

TEST_F(MetacopyTest, RemountFollowsTheMetacopyFile) {
  {
    auto fs = Mount();
    ASSERT_TRUE(Chmod(*fs, File(*fs).id, 0640));
    ASSERT_TRUE(fs->SetXattr(File(*fs).id, "user.note", "kept", 0));
  }
  ASSERT_TRUE(HasMarker(dir_ / "u/d/f"));
  for (bool metacopy : {true, false}) {  // followed whether or not this mount makes them
    SCOPED_TRACE(metacopy ? "metacopy=on" : "metacopy=off");
    auto fs = Mount(metacopy);
    const Entry f = File(*fs);
    EXPECT_EQ(f.attr.st_mode & 07777, 0640u);
    EXPECT_EQ(f.attr.st_blocks, Lstat(dir_ / "l0/d/f").st_blocks);
    EXPECT_EQ(*fs->GetXattr(f.id, "user.note"), "kept");
    EXPECT_TRUE(SameData(Read(*fs, f.id), Pattern()));
  }
  // Truncating needs the data: copied, then cut.
  auto fs = Mount();
  const Entry f = File(*fs);
  AttrChange cut;
  cut.size = 1000;
  ASSERT_TRUE(fs->SetAttr(f.id, cut));
  EXPECT_FALSE(HasMarker(dir_ / "u/d/f"));
  EXPECT_TRUE(SameData(Read(*fs, f.id), Pattern().substr(0, 1000)));
}

TEST_F(MetacopyTest, RenameAndLinkCopyTheDataFirst) {
  {
    auto fs = Mount();
    const Entry d = Look(*fs, kRootId, "d");
    ASSERT_TRUE(Chmod(*fs, File(*fs).id, 0600));
    ASSERT_TRUE(fs->Rename(d.id, "f", kRootId, "moved", 0));
    EXPECT_FALSE(HasMarker(dir_ / "u/moved"));
    const Entry moved = Look(*fs, kRootId, "moved");
    EXPECT_TRUE(SameData(Read(*fs, moved.id), Pattern()));
    ASSERT_TRUE(fs->Link(moved.id, d.id, "again"));
    EXPECT_TRUE(SameData(Read(*fs, Look(*fs, d.id, "again").id), Pattern()));
  }
  auto fs = Mount();
  EXPECT_TRUE(SameData(Read(*fs, Look(*fs, kRootId, "moved").id), Pattern()));
  EXPECT_EQ(fs->Lookup(Look(*fs, kRootId, "d").id, "f").error().code, ENOENT);
}

TEST_F(MetacopyTest, UnlinkedMetacopyFileStaysReadableWhileOpen) {
  auto fs = Mount();
  const Entry d = Look(*fs, kRootId, "d");
  const Entry f = File(*fs);
  ASSERT_TRUE(Chmod(*fs, f.id, 0600));
  auto reader = fs->OpenFile(f.id, O_RDONLY);
  ASSERT_TRUE(reader);
  ASSERT_TRUE(fs->Unlink(d.id, "f"));
  EXPECT_TRUE(SameData(PreadAll(*fs->HandleFd(**reader)), Pattern()));
  ASSERT_TRUE(Chmod(*fs, f.id, 0644)) << "the node itself stays usable";
  EXPECT_EQ(fs->GetAttr(f.id)->st_mode & 07777, 0644u);
}

TEST_F(MetacopyTest, HardLinksAndMetacopyOffCopyEverything) {
  {
    auto fs = Mount();
    ASSERT_TRUE(Chmod(*fs, Look(*fs, kRootId, "h1").id, 0600));
  }
  EXPECT_FALSE(HasMarker(dir_ / "u/h1")) << "hard links share one full copy (the index)";
  auto fs = Mount(/*metacopy=*/false);
  ASSERT_TRUE(Chmod(*fs, File(*fs).id, 0600));
  EXPECT_FALSE(HasMarker(dir_ / "u/d/f"));
  EXPECT_GT(Lstat(dir_ / "u/d/f").st_blocks, 0);
}

// Metacopy files another writer left in the layers of a read-only union: the data is found
// at the same name below, at a relative redirect in the same directory, or at an absolute
// one, through chains of metacopy files; none below is EIO, as on kernel overlayfs.
TEST_F(MetacopyTest, ReadOnlyUnionFollowsMetacopyFilesOfEveryShape) {
  const off_t size = static_cast<off_t>(Pattern().size());
  LayerBuilder(dir_ / "top").Dir("d").Dir("x");
  LayerBuilder(dir_ / "mid").Dir("d");
  WriteMetacopyFile(dir_ / "top/d/f", size);                 // -> mid/d/f -> l0/d/f
  WriteMetacopyFile(dir_ / "mid/d/f", size);                 //
  WriteMetacopyFile(dir_ / "top/d/renamed", size, "f");      // relative redirect
  WriteMetacopyFile(dir_ / "top/x/far", size, "/d/f");       // absolute redirect
  WriteMetacopyFile(dir_ / "top/d/orphan", 10);              // no data anywhere below
  WriteMetacopyFile(dir_ / "top/x/escape", 10, "/../../etc/passwd");
  ASSERT_EQ(::chmod((dir_ / "top/d/f").c_str(), 0600), 0);
  UnionConfig config;
  config.lowerdirs = {dir_ / "top", dir_ / "mid", dir_ / "l0"};
  auto fs = UnionFs::Open(config);
  ASSERT_TRUE(fs) << fs.error().Message();
  UnionFs& u = **fs;
  const Entry d = Look(u, kRootId, "d");
  const Entry x = Look(u, kRootId, "x");
  const Entry f = Look(u, d.id, "f");
  EXPECT_EQ(f.attr.st_mode & 07777, 0600u) << "attributes from the top";
  EXPECT_EQ(f.attr.st_blocks, Lstat(dir_ / "l0/d/f").st_blocks);
  EXPECT_TRUE(SameData(Read(u, f.id), Pattern()));
  EXPECT_TRUE(SameData(Read(u, Look(u, d.id, "renamed").id), Pattern()));
  EXPECT_TRUE(SameData(Read(u, Look(u, x.id, "far").id), Pattern()));
  EXPECT_EQ(u.Lookup(d.id, "orphan").error().code, EIO);
  EXPECT_EQ(u.Lookup(x.id, "escape").error().code, EIO);
}

// Data-only layers (lowerdir=TOP::DATA): never merged, listed or looked up; reached only
// through an absolute redirect, as composefs-style images keep file contents by digest.
TEST_F(MetacopyTest, DataOnlyLayersServeOnlyRedirects) {
  const off_t size = static_cast<off_t>(Pattern().size());
  LayerBuilder(dir_ / "top").Dir("bin");
  LayerBuilder(dir_ / "data").File("objects/ab/cdef", Pattern()).File("bin/tool", "hidden");
  WriteMetacopyFile(dir_ / "top/bin/tool", size, "/objects/ab/cdef");
  WriteMetacopyFile(dir_ / "top/bin/plain", 6);  // its name below is in the data layer only
  UnionConfig config;
  config.lowerdirs = {dir_ / "top"};
  config.datadirs = {dir_ / "data"};
  auto fs = UnionFs::Open(config);
  ASSERT_TRUE(fs) << fs.error().Message();
  UnionFs& u = **fs;
  EXPECT_EQ(u.Lookup(kRootId, "objects").error().code, ENOENT);
  auto listing = u.ReadDir(kRootId);
  ASSERT_TRUE(listing);
  EXPECT_EQ(listing->size(), 3u) << ". .. bin";
  const Entry bin = Look(u, kRootId, "bin");
  EXPECT_TRUE(SameData(Read(u, Look(u, bin.id, "tool").id), Pattern()));
  EXPECT_EQ(u.Lookup(bin.id, "plain").error().code, EIO);
  config.lowerdirs.clear();
  EXPECT_EQ(UnionFs::Open(config).error().code, EINVAL) << "data-only layers alone";
}

// A lower layer holding metacopy files under a writable union: copies take the real data.
TEST_F(MetacopyTest, CopyUpOfALowerMetacopyFileTakesItsData) {
  const off_t size = static_cast<off_t>(Pattern().size());
  LayerBuilder(dir_ / "top").Dir("d");
  WriteMetacopyFile(dir_ / "top/d/f", size);
  UnionConfig config;
  config.lowerdirs = {dir_ / "top", dir_ / "l0"};
  config.upperdir = dir_ / "u";
  config.workdir = dir_ / "w";
  for (bool metacopy : {true, false}) {
    SCOPED_TRACE(metacopy ? "metacopy=on" : "metacopy=off");
    config.metacopy = metacopy;
    auto fs = UnionFs::Open(config);
    ASSERT_TRUE(fs) << fs.error().Message();
    const Entry f = Look(**fs, Look(**fs, kRootId, "d").id, "f");
    ASSERT_TRUE(Chmod(**fs, f.id, 0600));
    EXPECT_EQ(HasMarker(dir_ / "u/d/f"), metacopy);
    EXPECT_TRUE(SameData(Read(**fs, f.id), Pattern()));
    auto writer = (*fs)->OpenFile(f.id, O_WRONLY);
    ASSERT_TRUE(writer) << writer.error().Message();
    EXPECT_FALSE(HasMarker(dir_ / "u/d/f"));
    writer->reset();
    EXPECT_TRUE(SameData(Read(**fs, f.id), Pattern()));
    fs->reset();
    ASSERT_EQ(::unlink((dir_ / "u/d/f").c_str()), 0);  // again, from the lower file
  }
}

}  // namespace
}  // namespace strata::core
