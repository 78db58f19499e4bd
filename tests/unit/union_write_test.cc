// The writable layer of fs/core over layers in a temp dir: no kernel mount involved. The
// differential test checks behaviour against kernel overlayfs; these check the on-disk result
// and the core's own contracts (identity, errno, what a remount sees).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "fs/core/union_fs.h"
#include "tests/support/layer_builder.h"
#include "tests/support/temp_dir.h"

namespace strata::core {
namespace {

using testing::LayerBuilder;
using testing::TempDir;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class UnionWriteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LayerBuilder(dir_ / "l0")
        .File("d/f", "lower\n")
        .File("d/g", "gone\n")
        .File("d/sub/deep", "deep\n")
        .File("h1", "linked\n")
        .Hardlink("h2", "h1");
    ::mkdir((dir_ / "u").c_str(), 0755);
    ::mkdir((dir_ / "w").c_str(), 0755);
  }
  std::unique_ptr<UnionFs> Mount() {
    UnionConfig config;
    config.lowerdirs = {dir_ / "l0"};
    config.upperdir = dir_ / "u";
    config.workdir = dir_ / "w";
    auto fs = UnionFs::Open(config);
    EXPECT_TRUE(fs) << fs.error().Message();
    return fs ? std::move(*fs) : nullptr;
  }
  Entry Look(UnionFs& fs, InodeId parent, const std::string& name) {
    auto e = fs.Lookup(parent, name);
    EXPECT_TRUE(e) << name << ": " << e.error().Message();
    return e ? *e : Entry{};
  }
  TempDir dir_;
};

TEST_F(UnionWriteTest, CopyUpKeepsInodeAndLeavesLowerAlone) {
  auto fs = Mount();
  const Entry d = Look(*fs, kRootId, "d");
  const Entry f = Look(*fs, d.id, "f");
  auto handle = fs->OpenFile(f.id, O_WRONLY | O_APPEND);
  ASSERT_TRUE(handle) << handle.error().Message();
  ASSERT_EQ(::write(*fs->HandleFd(**handle), "more\n", 5), 5);
  EXPECT_EQ(Slurp(dir_ / "u/d/f"), "lower\nmore\n");
  EXPECT_EQ(Slurp(dir_ / "l0/d/f"), "lower\n");
  EXPECT_EQ(fs->GetAttr(f.id)->st_ino, f.attr.st_ino);
  // A fresh union over the same upper (a remount) sees the same inode number.
  fs.reset();
  auto again = Mount();
  const Entry d2 = Look(*again, kRootId, "d");
  EXPECT_EQ(Look(*again, d2.id, "f").attr.st_ino, f.attr.st_ino);
  EXPECT_EQ(Look(*again, d2.id, "f").attr.st_size, 11);
}

TEST_F(UnionWriteTest, UnlinkOfLowerLeavesAWhiteout) {
  auto fs = Mount();
  const Entry d = Look(*fs, kRootId, "d");
  ASSERT_TRUE(fs->Unlink(d.id, "g"));
  EXPECT_EQ(fs->Lookup(d.id, "g").error().code, ENOENT);
  struct stat st;
  if (::geteuid() == 0) {
    ASSERT_EQ(::lstat((dir_ / "u/d/g").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) << "a char 0/0 whiteout";
  } else {
    EXPECT_EQ(::lstat((dir_ / "u/d/.wh.g").c_str(), &st), 0) << "a .wh. whiteout";
  }
  EXPECT_EQ(fs->Unlink(d.id, "g").error().code, ENOENT);
  EXPECT_EQ(fs->Unlink(d.id, "sub").error().code, EISDIR);
  EXPECT_EQ(fs->Rmdir(d.id, "f").error().code, ENOTDIR);
  EXPECT_EQ(fs->Rmdir(kRootId, "d").error().code, ENOTEMPTY);
}

TEST_F(UnionWriteTest, MkdirOverAWhiteoutIsOpaque) {
  auto fs = Mount();
  const Entry d = Look(*fs, kRootId, "d");
  ASSERT_TRUE(fs->Unlink(Look(*fs, d.id, "sub").id, "deep"));
  ASSERT_TRUE(fs->Rmdir(d.id, "sub"));
  auto made = fs->MakeDir(d.id, "sub", 0750, Caller{1000, 1000});
  ASSERT_TRUE(made) << made.error().Message();
  EXPECT_EQ(made->attr.st_mode & 07777, 0750u);
  EXPECT_EQ(made->attr.st_uid, 1000u);
  auto listing = fs->ReadDir(made->id);
  ASSERT_TRUE(listing);
  EXPECT_EQ(listing->size(), 2u) << "the lower sub/deep stays hidden";
  EXPECT_EQ(fs->MakeDir(d.id, "sub", 0755, Caller{}).error().code, EEXIST);
  EXPECT_EQ(fs->MakeNode(d.id, ".wh.x", S_IFREG | 0644, 0, Caller{}).error().code, EINVAL);
}

TEST_F(UnionWriteTest, RenamedLowerDirectoryKeepsItsContentsAfterRemount) {
  {
    auto fs = Mount();
    const Entry d = Look(*fs, kRootId, "d");
    ASSERT_TRUE(fs->Rename(kRootId, "d", kRootId, "moved", 0));
    EXPECT_EQ(fs->Lookup(kRootId, "d").error().code, ENOENT);
    const Entry moved = Look(*fs, kRootId, "moved");
    EXPECT_EQ(moved.id, d.id) << "the same node, moved";
    EXPECT_EQ(Look(*fs, moved.id, "f").attr.st_size, 6);
  }
  auto fs = Mount();
  EXPECT_EQ(fs->Lookup(kRootId, "d").error().code, ENOENT);
  const Entry moved = Look(*fs, kRootId, "moved");
  const Entry sub = Look(*fs, moved.id, "sub");
  EXPECT_EQ(Look(*fs, sub.id, "deep").attr.st_size, 5);
  EXPECT_EQ(fs->Rename(kRootId, "moved", kRootId, "h1", RENAME_NOREPLACE).error().code, EEXIST);
  EXPECT_EQ(fs->Rename(kRootId, "nope", kRootId, "x", RENAME_EXCHANGE).error().code, ENOENT);
}

TEST_F(UnionWriteTest, HardLinksShareTheCopyAfterRemount) {
  {
    auto fs = Mount();
    const Entry h1 = Look(*fs, kRootId, "h1");
    auto handle = fs->OpenFile(h1.id, O_WRONLY | O_TRUNC);
    ASSERT_TRUE(handle) << handle.error().Message();
    ASSERT_EQ(::write(*fs->HandleFd(**handle), "new\n", 4), 4);
  }
  auto fs = Mount();
  const Entry h2 = Look(*fs, kRootId, "h2");  // looked up first: still a lower name
  const Entry h1 = Look(*fs, kRootId, "h1");
  EXPECT_EQ(h1.id, h2.id);
  EXPECT_EQ(h2.attr.st_size, 4) << "the lower name shows the copy";
  EXPECT_EQ(h2.attr.st_nlink, 2u);
  ASSERT_TRUE(fs->Unlink(kRootId, "h1"));
  EXPECT_EQ(fs->GetAttr(h2.id)->st_nlink, 1u);
  EXPECT_EQ(fs->GetAttr(h2.id)->st_size, 4);
}

TEST_F(UnionWriteTest, IdMappingShowsAndStoresOwners) {
  LayerBuilder(dir_ / "l0").File("owned50", "x").Chown("owned50", 50, 50);
  UnionConfig config;
  config.lowerdirs = {dir_ / "l0"};
  config.upperdir = dir_ / "u";
  config.workdir = dir_ / "w";
  config.ids.uids = {{0, 1000, 10}};  // uidmapping=0:1000:10
  config.ids.gids = {{0, 2000, 10}};
  auto opened = UnionFs::Open(config);
  ASSERT_TRUE(opened) << opened.error().Message();
  UnionFs& fs = **opened;
  const Entry h1 = Look(fs, kRootId, "h1");  // root-owned in the layer
  EXPECT_EQ(h1.attr.st_uid, 1000u);
  EXPECT_EQ(h1.attr.st_gid, 2000u);
  EXPECT_EQ(Look(fs, kRootId, "owned50").attr.st_uid, kOverflowId) << "outside every range";
  auto made = fs.MakeNode(kRootId, "new", S_IFREG | 0644, 0, Caller{1003, 2004});
  ASSERT_TRUE(made) << made.error().Message();
  EXPECT_EQ(made->attr.st_uid, 1003u);
  struct stat st;
  ASSERT_EQ(::lstat((dir_ / "u/new").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 3u) << "stored as the layer's id";
  EXPECT_EQ(st.st_gid, 4u);
  AttrChange chown;
  chown.uid = 1005;
  auto after = fs.SetAttr(made->id, chown);
  ASSERT_TRUE(after) << after.error().Message();
  EXPECT_EQ(after->st_uid, 1005u);
  ASSERT_EQ(::lstat((dir_ / "u/new").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 5u);
}

TEST_F(UnionWriteTest, SquashShowsOneOwner) {
  UnionConfig config;
  config.lowerdirs = {dir_ / "l0"};
  config.ids.squash_uid = 42;  // squash_to_uid=42 (the gid is left alone)
  auto fs = UnionFs::Open(config);
  ASSERT_TRUE(fs);
  const Entry h1 = Look(**fs, kRootId, "h1");
  EXPECT_EQ(h1.attr.st_uid, 42u);
  EXPECT_EQ(h1.attr.st_gid, 0u);
  EXPECT_EQ((*fs)->GetAttr(kRootId)->st_uid, 42u);
}

TEST(OverrideStatTest, ParsesAndFormatsContainersStorageValues) {
  EXPECT_EQ(ParseOverrideStat("0:0:0755"), (OverrideStat{0, 0, 0755}));
  EXPECT_EQ(ParseOverrideStat("1000:2000:041750"), (OverrideStat{1000, 2000, 041750}));
  EXPECT_EQ(ParseOverrideStat("1:2:020644:char-1-3"), (OverrideStat{1, 2, 020644, makedev(1, 3)}));
  EXPECT_EQ(ParseOverrideStat("1:2:0600:block-8-1"), (OverrideStat{1, 2, 060600, makedev(8, 1)}));
  EXPECT_EQ(FormatOverrideStat(OverrideStat{0, 0, 020666, makedev(1, 3)}), "0:0:020666:char-1-3");
  for (const char* bad : {"", "0:0", "a:0:0755", "0:0:0789", "0:0:", "-1:0:0755",
                          "0:0:0644:pipe-1-2", "0:0:0644:char-1"}) {
    EXPECT_FALSE(ParseOverrideStat(bad)) << bad;
  }
  EXPECT_EQ(FormatOverrideStat(OverrideStat{5, 6, 0100644}), "5:6:0100644");
}

TEST_F(UnionWriteTest, XattrPermissionsKeepOwnersInTheOverride) {
  const std::string xattr(kContainersOverrideXattr);
  LayerBuilder(dir_ / "l0").File("kept", "k", 0600).Xattr("kept", xattr, "7:8:0751");
  UnionConfig config;
  config.lowerdirs = {dir_ / "l0"};
  config.upperdir = dir_ / "u";
  config.workdir = dir_ / "w";
  config.override_xattr = xattr;  // -o xattr_permissions=2
  auto opened = UnionFs::Open(config);
  ASSERT_TRUE(opened) << opened.error().Message();
  UnionFs& fs = **opened;
  // A layer's override is what users see, and the xattr itself is hidden.
  const Entry kept = Look(fs, kRootId, "kept");
  EXPECT_EQ(kept.attr.st_uid, 7u);
  EXPECT_EQ(kept.attr.st_gid, 8u);
  EXPECT_EQ(kept.attr.st_mode, S_IFREG | 0751u);
  EXPECT_EQ(fs.GetXattr(kept.id, xattr).error().code, ENODATA);
  EXPECT_EQ(fs.SetXattr(kept.id, xattr, "0:0:0777", 0).error().code, EPERM);
  // A new file is owned by its creator in the override; the real file stays the daemon's.
  auto made = fs.MakeNode(kRootId, "new", S_IFREG | 0640, 0, Caller{1000, 1001});
  ASSERT_TRUE(made) << made.error().Message();
  EXPECT_EQ(made->attr.st_uid, 1000u);
  EXPECT_EQ(made->attr.st_mode, S_IFREG | 0640u);
  struct stat st;
  ASSERT_EQ(::lstat((dir_ / "u/new").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, ::geteuid());
  // chown and chmod change the override only.
  AttrChange change;
  change.uid = 0;
  change.mode = 0604;
  auto after = fs.SetAttr(made->id, change);
  ASSERT_TRUE(after) << after.error().Message();
  EXPECT_EQ(after->st_uid, 0u);
  EXPECT_EQ(after->st_mode, S_IFREG | 0604u);
  char value[64] = {};
  ASSERT_GT(::lgetxattr((dir_ / "u/new").c_str(), xattr.c_str(), value, sizeof value - 1), 0);
  EXPECT_STREQ(value, "0:1001:0100604");
  // Copy-up keeps a layer's override; a lower file without one gets its real owner recorded.
  AttrChange touch;
  touch.mtime = timespec{5, 0};
  ASSERT_TRUE(fs.SetAttr(kept.id, touch));
  EXPECT_EQ(fs.GetAttr(kept.id)->st_uid, 7u);
  const Entry h1 = Look(fs, kRootId, "h1");
  ASSERT_TRUE(fs.SetAttr(h1.id, touch));
  ASSERT_GT(::lgetxattr((dir_ / "u/h1").c_str(), xattr.c_str(), value, sizeof value - 1), 0);
}

TEST_F(UnionWriteTest, NoXattrsMakesEveryXattrCallUnsupported) {
  UnionConfig config;
  config.lowerdirs = {dir_ / "l0"};
  config.upperdir = dir_ / "u";
  config.workdir = dir_ / "w";
  config.xattrs = false;  // -o noxattrs=1
  auto opened = UnionFs::Open(config);
  ASSERT_TRUE(opened) << opened.error().Message();
  UnionFs& fs = **opened;
  const Entry h1 = Look(fs, kRootId, "h1");
  EXPECT_EQ(fs.GetXattr(h1.id, "user.x").error().code, ENOTSUP);
  EXPECT_EQ(fs.ListXattr(h1.id).error().code, ENOTSUP);
  EXPECT_EQ(fs.SetXattr(h1.id, "user.x", "1", 0).error().code, ENOTSUP);
  EXPECT_EQ(fs.RemoveXattr(h1.id, "user.x").error().code, ENOTSUP);
  struct stat st;
  EXPECT_NE(::lstat((dir_ / "u/h1").c_str(), &st), 0) << "nothing was copied up";
}

TEST_F(UnionWriteTest, OciWhiteoutsLimitNamesToWhatCanBeWhitedOut) {
  const std::string longest(NAME_MAX - 4, 'n'), too_long(NAME_MAX - 3, 'x');
  LayerBuilder(dir_ / "l0").File(longest, "fits").File(too_long, "cannot be whited out");
  UnionConfig config;
  config.lowerdirs = {dir_ / "l0"};
  config.upperdir = dir_ / "u";
  config.workdir = dir_ / "w";
  config.oci_whiteouts = true;  // as on an upper filesystem without device nodes
  auto opened = UnionFs::Open(config);
  ASSERT_TRUE(opened) << opened.error().Message();
  UnionFs& fs = **opened;
  EXPECT_EQ(fs.StatFs()->f_namemax, static_cast<unsigned long>(NAME_MAX - 4));
  ASSERT_TRUE(fs.Unlink(kRootId, longest));
  struct stat st;
  EXPECT_EQ(::lstat((dir_ / ("u/.wh." + longest)).c_str(), &st), 0);
  EXPECT_EQ(fs.Lookup(kRootId, longest).error().code, ENOENT);
  // Removing a lower name one longer would need a whiteout no filesystem can hold: refused,
  // and the name stays.
  EXPECT_EQ(fs.Unlink(kRootId, too_long).error().code, ENAMETOOLONG);
  EXPECT_EQ(Look(fs, kRootId, too_long).attr.st_size, 20);
  EXPECT_EQ(fs.Rename(kRootId, too_long, kRootId, "short", 0).error().code, ENAMETOOLONG);
  EXPECT_EQ(Look(fs, kRootId, too_long).attr.st_size, 20);
  EXPECT_EQ(fs.Lookup(kRootId, "short").error().code, ENOENT);
}

TEST_F(UnionWriteTest, ReadOnlyUnionRefusesWrites) {
  UnionConfig config;
  config.lowerdirs = {dir_ / "l0"};
  auto fs = UnionFs::Open(config);
  ASSERT_TRUE(fs);
  EXPECT_EQ((*fs)->MakeDir(kRootId, "x", 0755, Caller{}).error().code, EROFS);
  EXPECT_EQ((*fs)->Unlink(kRootId, "h1").error().code, EROFS);
  EXPECT_EQ((*fs)->SetAttr(kRootId, AttrChange{}).error().code, EROFS);
}

}  // namespace
}  // namespace strata::core
