// fs/core over layers built in a temp dir: no kernel mount involved.
#include "fs/core/union_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "tests/support/layer_builder.h"
#include "tests/support/temp_dir.h"

namespace strata::core {
namespace {

using testing::Encoding;
using testing::LayerBuilder;
using testing::TempDir;

class UnionFsTest : public ::testing::Test {
 protected:
  LayerBuilder Layer(const std::string& name) {
    layers_.push_back(dir_ / name);
    return LayerBuilder(dir_ / name);
  }
  // Layers were added bottom first; the union wants topmost first.
  std::unique_ptr<UnionFs> Mount(bool static_nlink = false) {
    UnionConfig config;
    config.lowerdirs.assign(layers_.rbegin(), layers_.rend());
    config.static_nlink = static_nlink;
    auto fs = UnionFs::Open(config);
    EXPECT_TRUE(fs) << fs.error().Message();
    return fs ? std::move(*fs) : nullptr;
  }
  static std::set<std::string> Names(UnionFs& fs, InodeId dir) {
    auto entries = fs.ReadDir(dir);
    EXPECT_TRUE(entries) << entries.error().Message();
    std::set<std::string> names;
    for (const DirEntry& e : *entries) {
      EXPECT_TRUE(names.insert(e.name).second) << "listed twice: " << e.name;
    }
    names.erase(".");
    names.erase("..");
    return names;
  }
  static std::string ReadFile(UnionFs& fs, InodeId id) {
    auto handle = fs.OpenFile(id, O_RDONLY);
    EXPECT_TRUE(handle) << handle.error().Message();
    auto fd = fs.HandleFd(**handle);
    EXPECT_TRUE(fd) << fd.error().Message();
    char buf[256];
    ssize_t n = ::pread(*fd, buf, sizeof buf, 0);
    return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
  }
  static InodeId MustLookup(UnionFs& fs, InodeId parent, const std::string& name) {
    auto e = fs.Lookup(parent, name);
    EXPECT_TRUE(e) << name << ": " << e.error().Message();
    return e ? e->id : InodeId{};
  }

  TempDir dir_;
  std::vector<std::string> layers_;
};

TEST_F(UnionFsTest, UpperFileShadowsLowerFile) {
  Layer("l0").File("a", "lower").File("only-lower", "x");
  Layer("l1").File("a", "upper");
  auto fs = Mount();
  EXPECT_EQ(ReadFile(*fs, MustLookup(*fs, kRootId, "a")), "upper");
  EXPECT_EQ(Names(*fs, kRootId), (std::set<std::string>{"a", "only-lower"}));
}

class WhiteoutTest : public UnionFsTest, public ::testing::WithParamInterface<Encoding> {};

TEST_P(WhiteoutTest, WhiteoutHidesLowerEntryAndItself) {
  if (geteuid() != 0) GTEST_SKIP() << "device whiteouts and trusted xattrs need root";
  Layer("l0").File("a", "1").File("b", "2").Dir("d").File("d/inner");
  Layer("l1").Whiteout("a", GetParam()).Whiteout("d", GetParam()).File("c");
  auto fs = Mount();
  EXPECT_EQ(Names(*fs, kRootId), (std::set<std::string>{"b", "c"}));
  EXPECT_EQ(fs->Lookup(kRootId, "a").error().code, ENOENT);
  EXPECT_EQ(fs->Lookup(kRootId, "d").error().code, ENOENT);
  EXPECT_EQ(fs->Lookup(kRootId, ".wh.a").error().code, ENOENT);
}

class OpaqueTest : public UnionFsTest, public ::testing::WithParamInterface<Encoding> {};

TEST_P(OpaqueTest, OpaqueDirectoryHidesLowerChildren) {
  if (geteuid() != 0) GTEST_SKIP() << "trusted xattrs need root";
  Layer("l0").File("d/old").File("d/both", "lower");
  Layer("l1").Opaque("d", GetParam()).File("d/new").File("d/both", "upper");
  auto fs = Mount();
  InodeId d = MustLookup(*fs, kRootId, "d");
  EXPECT_EQ(Names(*fs, d), (std::set<std::string>{"new", "both"}));
  EXPECT_EQ(fs->Lookup(d, "old").error().code, ENOENT);
  EXPECT_EQ(ReadFile(*fs, MustLookup(*fs, d, "both")), "upper");
}

std::string ParamName(const ::testing::TestParamInfo<Encoding>& info) {
  return testing::EncodingName(info.param);
}

INSTANTIATE_TEST_SUITE_P(AllEncodings, WhiteoutTest,
                         ::testing::Values(Encoding::kKernel, Encoding::kOci, Encoding::kUserXattr,
                                           Encoding::kFuseOverlayfs, Encoding::kXattrWhiteout),
                         ParamName);
INSTANTIATE_TEST_SUITE_P(AllEncodings, OpaqueTest,
                         ::testing::Values(Encoding::kKernel, Encoding::kOci, Encoding::kUserXattr,
                                           Encoding::kFuseOverlayfs),
                         ParamName);

TEST_F(UnionFsTest, MergesDirectoriesAcrossLayers) {
  Layer("l0").File("d/a").File("d/sub1/x");
  Layer("l1").File("d/b").Dir("d/sub2");
  Layer("l2").File("d/c").File("d/sub1/y");
  auto fs = Mount();
  InodeId d = MustLookup(*fs, kRootId, "d");
  EXPECT_EQ(Names(*fs, d), (std::set<std::string>{"a", "b", "c", "sub1", "sub2"}));
  EXPECT_EQ(Names(*fs, MustLookup(*fs, d, "sub1")), (std::set<std::string>{"x", "y"}));
  auto attr = fs->GetAttr(d);
  ASSERT_TRUE(attr);
  EXPECT_EQ(attr->st_nlink, 4u);  // 2 + sub1 + sub2
  auto fs_static = Mount(/*static_nlink=*/true);
  EXPECT_EQ(fs_static->GetAttr(MustLookup(*fs_static, kRootId, "d"))->st_nlink, 1u);
}

TEST_F(UnionFsTest, LookupListedAgreesWithLookup) {
  if (geteuid() != 0) GTEST_SKIP() << "device whiteouts need root";
  Layer("l0").File("d/a", "0").File("d/b").Dir("d/sub").File("d/sub/x").File("d/gone");
  Layer("l1").File("d/a", "1").Whiteout("d/gone", Encoding::kKernel).File("d/sub/y");
  Layer("l2").File("d/c").Whiteout("d/b", Encoding::kOci).Dir("d/sub");
  auto fs = Mount();
  InodeId d = MustLookup(*fs, kRootId, "d");
  auto entries = fs->ReadDir(d);
  ASSERT_TRUE(entries);
  for (const DirEntry& e : *entries) {
    if (e.name == "." || e.name == "..") continue;
    auto listed = fs->LookupListed(d, e);
    auto full = fs->Lookup(d, e.name);
    ASSERT_TRUE(listed && full) << e.name;
    EXPECT_EQ(listed->id, full->id) << e.name;
    EXPECT_EQ(listed->attr.st_ino, full->attr.st_ino) << e.name;
    EXPECT_EQ(listed->attr.st_nlink, full->attr.st_nlink) << e.name;
  }
  EXPECT_EQ(ReadFile(*fs, fs->LookupListed(d, DirEntry{"a", 0, DT_REG, 1})->id), "1");
  // A stale listing whose layer no longer holds the name falls back to a full lookup.
  auto c = fs->LookupListed(d, DirEntry{"c", 0, DT_REG, 2});
  ASSERT_TRUE(c);
  EXPECT_EQ(c->id, fs->Lookup(d, "c")->id);
}

TEST_F(UnionFsTest, NonDirectoryHidesLowerDirectoryAndViceVersa) {
  Layer("l0").File("x/child").File("y", "file");
  Layer("l1").File("x", "now a file").File("y/child");
  auto fs = Mount();
  auto x = fs->Lookup(kRootId, "x");
  ASSERT_TRUE(x);
  EXPECT_TRUE(S_ISREG(x->attr.st_mode));
  EXPECT_EQ(fs->Lookup(x->id, "child").error().code, ENOTDIR);
  InodeId y = MustLookup(*fs, kRootId, "y");
  EXPECT_EQ(Names(*fs, y), (std::set<std::string>{"child"}));
}

TEST_F(UnionFsTest, OciWhiteoutHidesOnlyLowerLayers) {
  // A layer that deleted and recreated "d" holds both d/ and .wh.d: d is new, lower d hidden.
  Layer("l0").File("d/old");
  Layer("l1").File("d/new").File(".wh.d");
  auto fs = Mount();
  InodeId d = MustLookup(*fs, kRootId, "d");
  EXPECT_EQ(Names(*fs, d), (std::set<std::string>{"new"}));
  EXPECT_EQ(Names(*fs, kRootId), (std::set<std::string>{"d"}));
}

TEST_F(UnionFsTest, WhiteoutBelowATopFileDoesNotHideIt) {
  if (geteuid() != 0) GTEST_SKIP() << "device whiteouts need root";
  Layer("l0").File("a", "bottom");
  Layer("l1").Whiteout("a", Encoding::kKernel);
  Layer("l2").File("a", "top");
  auto fs = Mount();
  EXPECT_EQ(ReadFile(*fs, MustLookup(*fs, kRootId, "a")), "top");
  EXPECT_EQ(Names(*fs, kRootId), (std::set<std::string>{"a"}));
}

TEST_F(UnionFsTest, InodeNumbersAreStableUniqueAndMatchReaddir) {
  auto l0 = Layer("l0");
  l0.File("f", "data").Hardlink("g", "f").File("h").Dir("d");
  Layer("l1").File("h", "upper");
  auto fs = Mount();
  auto f = fs->Lookup(kRootId, "f"), g = fs->Lookup(kRootId, "g"), h = fs->Lookup(kRootId, "h");
  ASSERT_TRUE(f && g && h);
  EXPECT_EQ(f->id, g->id) << "hard links share one node";
  EXPECT_EQ(f->attr.st_ino, g->attr.st_ino);
  EXPECT_EQ(f->attr.st_nlink, 2u);
  EXPECT_NE(f->attr.st_ino, h->attr.st_ino);
  struct stat real;
  ASSERT_EQ(::stat((dir_ / "l1/h").c_str(), &real), 0);
  EXPECT_EQ(h->attr.st_ino, real.st_ino) << "st_ino comes from the topmost real file";
  auto entries = fs->ReadDir(kRootId);
  ASSERT_TRUE(entries);
  for (const DirEntry& e : *entries) {
    if (e.name == "." || e.name == "..") continue;
    auto looked = fs->Lookup(kRootId, e.name);
    ASSERT_TRUE(looked);
    EXPECT_EQ(e.ino, looked->attr.st_ino) << e.name;
    EXPECT_EQ(DTTOIF(e.d_type), looked->attr.st_mode & S_IFMT) << e.name;
  }
  // A second union over the same layers (a remount) shows the same numbers.
  auto again = Mount();
  EXPECT_EQ(again->Lookup(kRootId, "h")->attr.st_ino, h->attr.st_ino);
}

TEST_F(UnionFsTest, ForgetErasesAtZero) {
  Layer("l0").File("a").Dir("d");
  auto fs = Mount();
  const size_t before = fs->InodeCount();
  InodeId a = MustLookup(*fs, kRootId, "a");
  EXPECT_EQ(MustLookup(*fs, kRootId, "a"), a);
  EXPECT_EQ(fs->InodeCount(), before + 1);
  fs->Forget(a, 1);
  EXPECT_TRUE(fs->GetAttr(a)) << "one lookup is still held";
  fs->Forget(a, 1);
  EXPECT_EQ(fs->GetAttr(a).error().code, ESTALE);
  EXPECT_EQ(fs->InodeCount(), before);
  InodeId again = MustLookup(*fs, kRootId, "a");
  EXPECT_NE(again, a) << "ids are never reused";
  fs->Forget(kRootId, 100);
  EXPECT_TRUE(fs->GetAttr(kRootId)) << "the root is never forgotten";
}

TEST_F(UnionFsTest, PrivateXattrsAreHidden) {
  if (geteuid() != 0) GTEST_SKIP() << "trusted xattrs need root";
  Layer("l0")
      .File("f")
      .Xattr("f", "user.visible", "v")
      .Xattr("f", "trusted.overlay.origin", "o")
      .Xattr("f", "user.overlay.x", "1")
      .Xattr("f", "user.fuseoverlayfs.y", "2");
  auto fs = Mount();
  InodeId f = MustLookup(*fs, kRootId, "f");
  auto names = fs->ListXattr(f);
  ASSERT_TRUE(names);
  EXPECT_EQ(*names, std::string("user.visible\0", 13));
  EXPECT_EQ(*fs->GetXattr(f, "user.visible"), "v");
  EXPECT_EQ(fs->GetXattr(f, "trusted.overlay.origin").error().code, ENODATA);
}

TEST_F(UnionFsTest, ReadOnlyErrors) {
  Layer("l0").File("f", "x").Symlink("s", "target");
  auto fs = Mount();
  InodeId f = MustLookup(*fs, kRootId, "f");
  EXPECT_EQ(fs->OpenFile(f, O_WRONLY).error().code, EROFS);
  EXPECT_EQ(fs->OpenFile(f, O_RDONLY | O_TRUNC).error().code, EROFS);
  EXPECT_EQ(fs->OpenFile(kRootId, O_RDONLY).error().code, EISDIR);
  EXPECT_EQ(fs->Access(f, W_OK, Caller{}).error().code, EROFS);
  EXPECT_EQ(fs->Lookup(f, "x").error().code, ENOTDIR);
  EXPECT_EQ(fs->GetAttr(InodeId{999999}).error().code, ESTALE);
  EXPECT_EQ(fs->ReadLink(f).error().code, EINVAL);
  EXPECT_EQ(*fs->ReadLink(MustLookup(*fs, kRootId, "s")), "target");
  EXPECT_EQ(fs->Lookup(kRootId, std::string(300, 'n')).error().code, ENAMETOOLONG);
}

TEST_F(UnionFsTest, AccessChecksModeBits) {
  Layer("l0").File("secret", "x", 0600).File("pub", "x", 0644).File("tool", "x", 0755);
  auto fs = Mount();
  InodeId secret = MustLookup(*fs, kRootId, "secret");
  EXPECT_TRUE(fs->Access(secret, R_OK, Caller{0, 0}));
  EXPECT_EQ(fs->Access(secret, R_OK, Caller{1000, 1000}).error().code, EACCES);
  EXPECT_TRUE(fs->Access(MustLookup(*fs, kRootId, "pub"), R_OK, Caller{1000, 1000}));
  EXPECT_EQ(fs->Access(MustLookup(*fs, kRootId, "pub"), X_OK, Caller{0, 0}).error().code, EACCES);
  EXPECT_TRUE(fs->Access(MustLookup(*fs, kRootId, "tool"), X_OK, Caller{1000, 1000}));
}

TEST(LayerStackTest, RejectsBadLayers) {
  TempDir dir;
  LayerBuilder(dir / "ok").File("f");
  EXPECT_EQ(LayerStack::Open({dir / "missing"}).error().code, ENOENT);
  EXPECT_EQ(LayerStack::Open({dir / "ok/f"}).error().code, ENOTDIR);
  EXPECT_EQ(LayerStack::Open({}).error().code, EINVAL);
  std::vector<std::string> many(kMaxLayers + 1, dir / "ok");
  auto too_many = LayerStack::Open(many);
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().code, EINVAL);
  EXPECT_NE(too_many.error().context.find("at most"), std::string::npos);
  auto ok = LayerStack::Open(std::vector<std::string>(kMaxLayers, dir / "ok"));
  EXPECT_TRUE(ok);
  EXPECT_NE(LayerStack::Open({dir / "missing"}).error().Message().find(dir / "missing"),
            std::string::npos)
      << "the error names the layer";
}

}  // namespace
}  // namespace strata::core
