// Layer extraction from tars written here with libarchive: fidelity, whiteouts, compression,
// and a corpus of hostile tars that must be refused with nothing written outside the layer.
#include "layerstore/import/layer_extract.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <functional>

#include "fs/base/unique_fd.h"
#include "fs/core/union_fs.h"
#include "layerstore/import/tar_path.h"
#include "tests/support/tar_writer.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tree_dump.h"

namespace strata::store {
namespace {

using testing::Compression;
using testing::EntryMeta;
using testing::TarWriter;

class LayerExtractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "privileged extraction (devices, owners) needs root";
    ::mkdir((dir_ / "layer").c_str(), 0755);
    ::mkdir((dir_ / "outside").c_str(), 0755);
    ::close(::open((dir_ / "outside/sentinel").c_str(), O_CREAT | O_WRONLY, 0644));
  }
  Result<ExtractResult> Extract(const std::string& tar, ExtractOptions options = {}) {
    UniqueFd blob(testing::MemFile(tar));
    UniqueFd dest(::open((dir_ / "layer").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    return ExtractLayer(blob.Get(), dest.Get(), options);
  }
  struct stat Lstat(const std::string& rel) {
    struct stat st {};
    EXPECT_EQ(::lstat((dir_ / ("layer/" + rel)).c_str(), &st), 0) << rel;
    return st;
  }
  bool Exists(const std::string& rel) {
    struct stat st;
    return ::lstat((dir_ / ("layer/" + rel)).c_str(), &st) == 0;
  }
  std::string Xattr(const std::string& rel, const std::string& name) {
    char buf[256];
    ssize_t n = ::lgetxattr((dir_ / ("layer/" + rel)).c_str(), name.c_str(), buf, sizeof buf);
    return n < 0 ? "<none>" : std::string(buf, static_cast<size_t>(n));
  }
  // The rest of the host: only "layer" may have changed.
  std::string Outside() { return testing::Canonical(testing::DumpTree(dir_ / "outside")); }

  testing::TempDir dir_;
};

// vfs_cap_data revision 2, effective, permitted = CAP_NET_BIND_SERVICE.
const std::string kNetBindCap(
    "\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00"
    "\x00\x00\x00\x00\x00\x00\x00\x00",
    20);

TEST_F(LayerExtractTest, KeepsEveryAttribute) {
  const EntryMeta suid = EntryMeta()
                             .Mode(04755)
                             .Owner(4000000000, 1234)
                             .Mtime(1600000000, 123456789)
                             .Xattr("user.bin", std::string("\0\x01\xff", 3))
                             .Xattr("security.capability", kNetBindCap);
  TarWriter tar;
  tar.Dir("etc", EntryMeta().Mode(0750).Mtime(1500000000))
      .File("etc/passwd", "root:x:0:0\n")
      .File("bin/tool", "#!/bin/sh\n", suid)
      .Symlink("bin/sh", "/bin/busybox")
      .Hardlink("bin/tool2", "bin/tool")
      .Fifo("run/fifo")
      .Device("dev/null", false, 1, 3)
      .Device("dev/sda", true, 8, 0)
      .Sparse("var/sparse", 8 << 20, 4 << 20, "island");
  auto r = Extract(tar.Finish());
  ASSERT_TRUE(r) << r.error().Message();
  EXPECT_EQ(r->entries, 9u);

  struct stat tool = Lstat("bin/tool");
  EXPECT_EQ(tool.st_mode & 07777, 04755u) << "setuid survives chown";
  EXPECT_EQ(tool.st_uid, 4000000000u);
  EXPECT_EQ(tool.st_gid, 1234u);
  EXPECT_EQ(tool.st_mtim.tv_sec, 1600000000);
  EXPECT_EQ(tool.st_mtim.tv_nsec, 123456789);
  EXPECT_EQ(tool.st_nlink, 2u);
  EXPECT_EQ(Lstat("bin/tool2").st_ino, tool.st_ino);
  EXPECT_EQ(Xattr("bin/tool", "user.bin"), std::string("\0\x01\xff", 3));
  EXPECT_EQ(Xattr("bin/tool", "security.capability"), kNetBindCap) << "set after chown";
  EXPECT_TRUE(S_ISLNK(Lstat("bin/sh").st_mode));
  EXPECT_TRUE(S_ISFIFO(Lstat("run/fifo").st_mode));
  EXPECT_EQ(Lstat("dev/null").st_rdev, makedev(1, 3));
  EXPECT_TRUE(S_ISBLK(Lstat("dev/sda").st_mode));
  struct stat etc = Lstat("etc");
  EXPECT_EQ(etc.st_mode & 07777, 0750u);
  EXPECT_EQ(etc.st_mtim.tv_sec, 1500000000) << "directory times are set after its children";
  struct stat sparse = Lstat("var/sparse");
  EXPECT_EQ(sparse.st_size, 8 << 20);
  EXPECT_LT(sparse.st_blocks * 512, 1 << 20) << "holes stay holes";
  UniqueFd fd(::open((dir_ / "layer/var/sparse").c_str(), O_RDONLY));
  char buf[6];
  ASSERT_EQ(::pread(fd.Get(), buf, 6, 4 << 20), 6);
  EXPECT_EQ(std::string(buf, 6), "island");
}

TEST_F(LayerExtractTest, UnprivilegedKeepsOwnersAndDevicesInOverrideStat) {
  TarWriter tar;
  tar.File("etc/passwd", "root:x:0:0\n", EntryMeta().Owner(::geteuid(), ::getegid()))
      .File("bin/tool", "#!/bin/sh\n", EntryMeta().Mode(04755).Owner(4000000000, 1234))
      .Symlink("bin/sh", "/bin/busybox")
      .Device("dev/null", false, 1, 3)
      .Device("dev/sda", true, 8, 0)
      .Fifo("run/pipe")
      .Symlink("bin/foreign", "tool", EntryMeta().Owner(7, 8))
      .File("etc/shadow", "s", EntryMeta().Mode(0).Owner(::geteuid(), ::getegid()))
      .Dir("ro", EntryMeta().Mode(0500).Owner(::geteuid(), ::getegid()))
      .File("ro/in", "x", EntryMeta().Owner(::geteuid(), ::getegid()));
  ExtractOptions unprivileged;
  unprivileged.privileged = false;
  auto r = Extract(tar.Finish(), unprivileged);
  ASSERT_TRUE(r) << r.error().Message();
  const std::string key = "user.containers.override_stat";
  EXPECT_EQ(Xattr("etc/passwd", key), "<none>") << "our own owner needs no override";
  EXPECT_EQ(Xattr("bin/tool", key), "4000000000:1234:0104755");
  const struct stat null_dev = Lstat("dev/null");
  EXPECT_TRUE(S_ISREG(null_dev.st_mode) && null_dev.st_size == 0) << "a placeholder file";
  EXPECT_EQ(Xattr("dev/null", key).rfind(":char-1-3"), Xattr("dev/null", key).size() - 9);
  EXPECT_NE(Xattr("dev/sda", key).find(":block-8-0"), std::string::npos);
  EXPECT_EQ(Xattr("bin/sh", key), "<none>") << "symlinks carry no user.* xattrs";
  EXPECT_TRUE(S_ISREG(Lstat("run/pipe").st_mode)) << "FIFOs carry none either: a placeholder";
  EXPECT_EQ(Xattr("run/pipe", key), "0:0:010644");
  EXPECT_TRUE(S_ISREG(Lstat("bin/foreign").st_mode)) << "a foreign symlink: a placeholder";
  EXPECT_EQ(Xattr("bin/foreign", key), "7:8:0120777");
  // Modes that would lock the importing user out of its own layer are kept in the override.
  const std::string self = std::to_string(::geteuid()) + ":" + std::to_string(::getegid());
  EXPECT_EQ(Lstat("etc/shadow").st_mode & 07777, 0600u);
  EXPECT_EQ(Xattr("etc/shadow", key), self + ":0100000");
  EXPECT_EQ(Lstat("ro").st_mode & 07777, 0700u);
  EXPECT_EQ(Xattr("ro", key), self + ":040500");
  EXPECT_EQ(Xattr("ro/in", key), "<none>");
  // stratafs with xattr_permissions=2 shows them as they were in the image.
  core::UnionConfig config;
  config.lowerdirs = {dir_ / "layer"};
  config.override_xattr = key;
  auto fs = core::UnionFs::Open(config);
  ASSERT_TRUE(fs) << fs.error().Message();
  auto dev = (*fs)->Lookup(core::kRootId, "dev");
  ASSERT_TRUE(dev);
  auto null_entry = (*fs)->Lookup(dev->id, "null");
  ASSERT_TRUE(null_entry);
  EXPECT_TRUE(S_ISCHR(null_entry->attr.st_mode));
  EXPECT_EQ(null_entry->attr.st_rdev, makedev(1, 3));
  auto bin = (*fs)->Lookup(core::kRootId, "bin");
  auto tool = (*fs)->Lookup(bin->id, "tool");
  ASSERT_TRUE(tool);
  EXPECT_EQ(tool->attr.st_uid, 4000000000u);
  EXPECT_EQ(tool->attr.st_mode, S_IFREG | 04755u);
  auto foreign = (*fs)->Lookup(bin->id, "foreign");
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->attr.st_mode, S_IFLNK | 0777u);
  EXPECT_EQ(foreign->attr.st_uid, 7u);
  EXPECT_EQ(*(*fs)->ReadLink(foreign->id), "tool");
  auto listing = (*fs)->ReadDir(bin->id);
  ASSERT_TRUE(listing);
  for (const core::DirEntry& e : *listing) {
    if (e.name == "foreign") {
      EXPECT_EQ(e.d_type, DT_LNK) << "readdir agrees with stat";
    }
  }
  auto run = (*fs)->Lookup(core::kRootId, "run");
  auto pipe = (*fs)->Lookup(run->id, "pipe");
  ASSERT_TRUE(pipe);
  EXPECT_EQ(pipe->attr.st_mode, S_IFIFO | 0644u);
}

TEST_F(LayerExtractTest, DigestsAreTheSameForEveryCompression) {
  auto build = [](Compression c) {
    TarWriter tar(c);
    tar.File("a", std::string(100000, 'x')).Dir("d").File("d/b", "b");
    return tar.Finish();
  };
  const std::string plain = build(Compression::kNone);
  const Digest diff_id = Sha256Of(plain);
  for (Compression c : {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    testing::TempDir fresh;
    const std::string blob = build(c);
    UniqueFd fd(testing::MemFile(blob));
    UniqueFd dest(::open(fresh.path().c_str(), O_RDONLY | O_DIRECTORY));
    auto r = ExtractLayer(fd.Get(), dest.Get(), {});
    ASSERT_TRUE(r) << r.error().Message();
    EXPECT_EQ(r->diff_id, diff_id);
    EXPECT_EQ(r->blob_digest, Sha256Of(blob));
    EXPECT_EQ(r->tar_bytes, plain.size());
    EXPECT_EQ(r->compression, c == Compression::kGzip   ? "gzip"
                              : c == Compression::kZstd ? "zstd"
                                                        : "none");
  }
}

TEST_F(LayerExtractTest, WhiteoutsBecomeCanonical) {
  TarWriter tar;
  tar.File(".wh.gone", "")
      .Dir("opaque")
      .File("opaque/.wh..wh..opq", "")
      .File("opaque/kept", "k")
      .File(".wh.recreated", "")  // deleted below, re-created here: an opaque directory
      .Dir("recreated")
      .File("recreated/new", "n")
      .Dir("both")
      .File(".wh.both", "")  // the same, whiteout after the directory
      .File(".wh.parent", "")
      .File("parent/.wh.child", "");  // under a whited-out parent: moot, tolerated
  auto r = Extract(tar.Finish());
  ASSERT_TRUE(r) << r.error().Message();
  struct stat gone = Lstat("gone");
  EXPECT_TRUE(S_ISCHR(gone.st_mode) && gone.st_rdev == 0) << "char 0/0 whiteout";
  EXPECT_FALSE(Exists(".wh.gone"));
  EXPECT_EQ(Xattr("opaque", "trusted.overlay.opaque"), "y");
  EXPECT_FALSE(Exists("opaque/.wh..wh..opq"));
  EXPECT_TRUE(Exists("opaque/kept"));
  EXPECT_TRUE(S_ISDIR(Lstat("recreated").st_mode));
  EXPECT_EQ(Xattr("recreated", "trusted.overlay.opaque"), "y");
  EXPECT_EQ(Xattr("both", "trusted.overlay.opaque"), "y");
  EXPECT_TRUE(S_ISCHR(Lstat("parent").st_mode));
}

TEST_F(LayerExtractTest, LastDuplicateWins) {
  TarWriter tar;
  tar.File("f", "first").File("f", "second").Dir("d").File("d/x", "x").File("d", "now a file");
  auto r = Extract(tar.Finish());
  ASSERT_TRUE(r) << r.error().Message();
  UniqueFd fd(::open((dir_ / "layer/f").c_str(), O_RDONLY));
  char buf[16];
  EXPECT_EQ(std::string(buf, static_cast<size_t>(::read(fd.Get(), buf, sizeof buf))), "second");
  EXPECT_TRUE(S_ISREG(Lstat("d").st_mode));
}

TEST_F(LayerExtractTest, ToleratesAMissingTrailerAndNormalisesPaths) {
  TarWriter tar;
  tar.File("/abs/file", "a").File("./dot/file", "b").File("many//slashes/./f", "c");
  std::string bytes = tar.Finish();
  ASSERT_GT(bytes.size(), 1024u);
  bytes.resize(bytes.size() - 1024);  // drop the two zero blocks of the end-of-archive marker
  auto r = Extract(bytes);
  ASSERT_TRUE(r) << r.error().Message();
  EXPECT_TRUE(Exists("abs/file"));
  EXPECT_TRUE(Exists("dot/file"));
  EXPECT_TRUE(Exists("many/slashes/f"));
}

// Tars that end early, as umoci 0.4's `insert` writes them: after the last entry's data, with no
// padding or end-of-archive blocks. Accepted when every entry's data is complete; an entry whose
// data is shorter than its header says is still refused. The diffID is over the bytes given.
class TruncatedTarTest : public LayerExtractTest {
 protected:
  // A tar whose last entry is a file of SIZE bytes; *DATA_END is where its data ends.
  std::string Tar(size_t size, size_t* data_end) {
    TarWriter tar;
    tar.Dir("d").File("d/first", "first").File("last", Last(size));
    const std::string bytes = tar.Finish();
    const size_t start = bytes.find(Last(size));
    EXPECT_NE(start, std::string::npos);
    *data_end = start + size;
    return bytes;
  }
  void Reset() {
    testing::RemoveTree(dir_ / "layer");
    ::mkdir((dir_ / "layer").c_str(), 0755);
  }
  static std::string Last(size_t size) {
    std::string data;
    for (size_t i = 0; data.size() < size; ++i) data += "last-" + std::to_string(i) + ";";
    data.resize(size);
    return data;
  }
  std::string Content(const std::string& rel) {
    UniqueFd fd(::open((dir_ / ("layer/" + rel)).c_str(), O_RDONLY | O_CLOEXEC));
    std::string out(1 << 16, '\0');
    const ssize_t n = fd ? ::read(fd.Get(), out.data(), out.size()) : -1;
    out.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return out;
  }
};

TEST_F(TruncatedTarTest, CutRightAfterTheLastEntrysData) {
  for (size_t size : {size_t{700}, size_t{512}, size_t{5000}}) {
    SCOPED_TRACE("last entry of " + std::to_string(size) + " bytes");
    Reset();
    size_t data_end = 0;
    std::string bytes = Tar(size, &data_end);
    bytes.resize(data_end);
    auto r = Extract(bytes);
    ASSERT_TRUE(r) << r.error().Message();
    EXPECT_EQ(Content("last"), Last(size));
    EXPECT_EQ(Content("d/first"), "first");
    EXPECT_EQ(r->diff_id, Sha256Of(bytes)) << "the digest of the bytes as given";
    EXPECT_EQ(r->tar_bytes, bytes.size());
  }
}

TEST_F(TruncatedTarTest, CutAfterThePaddingWithoutEndBlocks) {
  size_t data_end = 0;
  std::string bytes = Tar(700, &data_end);
  bytes.resize((data_end + 511) / 512 * 512);
  auto r = Extract(bytes);
  ASSERT_TRUE(r) << r.error().Message();
  EXPECT_EQ(Content("last"), Last(700));
  EXPECT_EQ(r->diff_id, Sha256Of(bytes));
}

TEST_F(TruncatedTarTest, CutInTheLastEntrysDataIsRefused) {
  for (size_t cut : {size_t{1}, size_t{188}, size_t{700 - 512}}) {
    SCOPED_TRACE("cut " + std::to_string(cut) + " bytes short");
    Reset();
    size_t data_end = 0;
    std::string bytes = Tar(700, &data_end);
    bytes.resize(data_end - cut);
    auto r = Extract(bytes);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, EIO);
    EXPECT_NE(r.error().Message().find("last"), std::string::npos) << r.error().Message();
  }
}

TEST_F(LayerExtractTest, CorruptCompressedDataIsAnError) {
  TarWriter tar(Compression::kGzip);
  tar.File("a", std::string(200000, 'z'));
  std::string bytes = tar.Finish();
  bytes.resize(bytes.size() / 2);
  auto r = Extract(bytes);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EIO) << r.error().Message();
}

struct Hostile {
  const char* name;
  std::function<void(TarWriter&)> write;
  const char* message;  // part of the expected error
};

class HostileTarTest : public LayerExtractTest, public ::testing::WithParamInterface<Hostile> {};

TEST_P(HostileTarTest, IsRefusedAndTouchesNothingOutside) {
  const std::string before = Outside();
  TarWriter tar;
  GetParam().write(tar);
  auto r = Extract(tar.Finish());
  ASSERT_FALSE(r) << GetParam().name << " was accepted";
  EXPECT_EQ(r.error().code, EINVAL) << r.error().Message();
  EXPECT_NE(r.error().Message().find(GetParam().message), std::string::npos) << r.error().Message();
  EXPECT_EQ(Outside(), before);
  struct stat st;
  EXPECT_NE(::lstat((dir_ / "evil").c_str(), &st), 0) << "something was written next to the layer";
}

const Hostile kHostile[] = {
    {"DotDot", [](TarWriter& t) { t.File("../evil", "x"); }, "escapes"},
    {"DotDotInside", [](TarWriter& t) { t.File("a/../../evil", "x"); }, "escapes"},
    {"WriteThroughAbsoluteSymlink",
     [](TarWriter& t) { t.Symlink("link", "/tmp").File("link/evil", "x"); }, "symlink 'link'"},
    {"WriteThroughRelativeSymlink",
     [](TarWriter& t) { t.Symlink("up", "..").File("up/evil", "x"); }, "symlink 'up'"},
    {"WriteThroughNestedSymlink",
     [](TarWriter& t) { t.Dir("d").Symlink("d/l", "../..").File("d/l/evil", "x"); },
     "symlink 'd/l'"},
    {"HardlinkEscapes", [](TarWriter& t) { t.Hardlink("h", "../outside/sentinel"); }, "escapes"},
    {"HardlinkForward", [](TarWriter& t) { t.Hardlink("h", "later").File("later", "x"); },
     "not (yet)"},
    {"HardlinkMissing", [](TarWriter& t) { t.Hardlink("h", "nothing"); }, "not (yet)"},
    {"HardlinkToDirectory", [](TarWriter& t) { t.Dir("d").Hardlink("h", "d"); }, "directory"},
    {"HardlinkToRoot", [](TarWriter& t) { t.Hardlink("h", "./"); }, "root"},
    {"EmptyWhiteout", [](TarWriter& t) { t.File(".wh.", ""); }, "names nothing"},
    {"WhiteoutOfParent", [](TarWriter& t) { t.File("d/.wh..", ""); }, "directory link"},
    {"ReservedWhiteoutPrefix", [](TarWriter& t) { t.File(".wh..wh.plnk", ""); }, "reserved"},
    {"RootIsASymlink", [](TarWriter& t) { t.Symlink(".", "/"); }, "root"},
    {"RootIsAFile", [](TarWriter& t) { t.File(".", "x"); }, "root"},
    {"PrivateTrustedXattr",
     [](TarWriter& t) { t.File("f", "", EntryMeta().Xattr("trusted.overlay.opaque", "y")); },
     "overlay-private"},
    {"PrivateUserXattr",
     [](TarWriter& t) { t.File("f", "", EntryMeta().Xattr("user.overlay.redirect", "/x")); },
     "overlay-private"},
    {"WhiteoutDevice", [](TarWriter& t) { t.Device("wh", false, 0, 0); }, "whiteout"},
    {"ParentIsAFile", [](TarWriter& t) { t.File("f", "x").File("f/child", "y"); },
     "not a directory"},
    {"OwnerTooLarge", [](TarWriter& t) { t.File("f", "", EntryMeta().Owner(1LL << 33, 0)); },
     "32-bit"},
};

INSTANTIATE_TEST_SUITE_P(Corpus, HostileTarTest, ::testing::ValuesIn(kHostile),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(TarPathTest, Normalize) {
  EXPECT_EQ(*NormalizeTarPath("/a/./b//c/"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(NormalizeTarPath("./")->empty());
  EXPECT_FALSE(NormalizeTarPath("a/.."));
  EXPECT_FALSE(NormalizeTarPath(std::string_view("a\0b", 3)));
  EXPECT_EQ(ClassifyName(".wh.x")->kind, EntryKind::kWhiteout);
  EXPECT_EQ(ClassifyName(".wh.x")->target, "x");
  EXPECT_EQ(ClassifyName(".wh..wh..opq")->kind, EntryKind::kOpaque);
  EXPECT_EQ(ClassifyName("x.wh.")->kind, EntryKind::kNormal);
  EXPECT_FALSE(ClassifyName(".wh."));
  EXPECT_TRUE(IsOverlayPrivateXattr("user.fuseoverlayfs.opaque"));
  EXPECT_FALSE(IsOverlayPrivateXattr("user.overlayx"));
}

}  // namespace
}  // namespace strata::store
