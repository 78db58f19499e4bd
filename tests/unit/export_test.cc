// Images going out, with no kernel: TarOut's streams read back with both identities, and a
// container's changes (made through fs/core, as stratafs makes them) written as a layer that,
// extracted and stacked on the image, shows exactly what the container showed.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <set>

#include "fs/core/union_fs.h"
#include "layerstore/export/container_diff.h"
#include "layerstore/export/tar_out.h"
#include "layerstore/import/layer_extract.h"
#include "layerstore/import/layer_stream.h"
#include "tests/support/file_data.h"
#include "tests/support/layer_builder.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"

namespace strata::store {
namespace {

using core::AttrChange;
using core::Entry;
using core::InodeId;
using core::kRootId;
using core::UnionFs;
using testing::LayerBuilder;
using testing::PreadAll;
using testing::TempDir;

UniqueFd OpenFile(const std::string& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC, 0600));
  EXPECT_TRUE(fd) << path << ": " << std::strerror(errno);
  return fd;
}

TEST(TarOutTest, EveryCompressionReadsBackWithBothDigests) {
  TempDir dir;
  for (Compression c : {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    SCOPED_TRACE(CompressionName(c));
    const std::string path = dir / (std::string("t-") + CompressionName(c));
    UniqueFd fd = OpenFile(path, O_RDWR | O_CREAT | O_TRUNC);
    auto tar = TarOut::Open(fd.Get(), c);
    ASSERT_TRUE(tar) << tar.error().Message();
    TarEntry d;
    d.path = "dir/";
    d.st.st_mode = S_IFDIR | 0750;
    d.st.st_mtim = {1700000000, 123456789};
    ASSERT_TRUE((*tar)->Add(d));
    TarEntry f;
    f.path = "dir/file";
    f.xattrs = {{"user.bin", std::string("\0\1\2", 3)}};
    ASSERT_TRUE((*tar)->AddData(f, std::string(200000, 'x')));
    ASSERT_TRUE((*tar)->Finish());
    const Digest diff = (*tar)->DiffId(), blob = (*tar)->BlobDigest();
    if (c == Compression::kNone) {
      EXPECT_EQ(diff, blob);
    } else {
      EXPECT_LT((*tar)->blob_bytes(), (*tar)->tar_bytes());
    }

    ASSERT_EQ(::lseek(fd.Get(), 0, SEEK_SET), 0);
    auto stream = LayerStream::Open(fd.Get());
    ASSERT_TRUE(stream) << stream.error().Message();
    ASSERT_TRUE((*stream)->Drain());
    EXPECT_EQ((*stream)->compression(), CompressionName(c));
    EXPECT_EQ((*stream)->DiffId(), diff);
    EXPECT_EQ((*stream)->BlobDigest(), blob);

    // What the extractor makes of it: nanosecond mtimes and binary xattrs kept.
    TempDir out;
    UniqueFd dest = OpenFile(out.path(), O_RDONLY | O_DIRECTORY);
    ASSERT_EQ(::lseek(fd.Get(), 0, SEEK_SET), 0);
    auto extracted = ExtractLayer(fd.Get(), dest.Get(), {});
    ASSERT_TRUE(extracted) << extracted.error().Message();
    struct stat st;
    ASSERT_EQ(::lstat((out / "dir").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0750u);
    EXPECT_EQ(st.st_mtim.tv_nsec, 123456789);
    char value[8];
    EXPECT_EQ(::lgetxattr((out / "dir/file").c_str(), "user.bin", value, sizeof value), 3);
    EXPECT_EQ(std::string(value, 3), std::string("\0\1\2", 3));
  }
}

// One canonical line per entry of a union's view: everything a user can observe.
void Dump(UnionFs& fs, InodeId dir, const std::string& path, std::map<std::string, std::string>* out,
          std::map<ino_t, std::string>* first_name) {
  auto entries = fs.ReadDir(dir);
  ASSERT_TRUE(entries) << path << ": " << entries.error().Message();
  for (const core::DirEntry& d : *entries) {
    if (d.name == "." || d.name == "..") continue;
    auto e = fs.Lookup(dir, d.name);
    ASSERT_TRUE(e) << path << "/" << d.name << ": " << e.error().Message();
    const std::string child = path + "/" + d.name;
    const struct stat& st = e->attr;
    std::string line = std::to_string(st.st_mode) + " " + std::to_string(st.st_uid) + ":" +
                       std::to_string(st.st_gid) + " mtime " + std::to_string(st.st_mtim.tv_sec) +
                       "." + std::to_string(st.st_mtim.tv_nsec);
    if (!S_ISDIR(st.st_mode)) {
      line += " nlink " + std::to_string(st.st_nlink);
      auto [it, fresh] = first_name->try_emplace(st.st_ino, child);
      if (!fresh) line += " same file as " + it->second;
    }
    if (S_ISREG(st.st_mode)) {
      auto h = fs.OpenFile(e->id, O_RDONLY);
      ASSERT_TRUE(h) << child;
      line += " data " + std::to_string(std::hash<std::string>{}(PreadAll(*fs.HandleFd(**h))));
    }
    if (S_ISLNK(st.st_mode)) line += " -> " + *fs.ReadLink(e->id);
    if (auto names = fs.ListXattr(e->id); names && !names->empty()) {
      for (size_t p = 0; p < names->size(); p = names->find('\0', p) + 1) {
        const std::string name = names->substr(p, names->find('\0', p) - p);
        auto value = fs.GetXattr(e->id, name);
        line += " " + name + "=" + (value ? *value : "?");
      }
    }
    (*out)[child] = line;
    if (S_ISDIR(st.st_mode)) Dump(fs, e->id, child, out, first_name);
    fs.Forget(e->id, 1);
  }
}

std::map<std::string, std::string> View(UnionFs& fs) {
  std::map<std::string, std::string> out;
  std::map<ino_t, std::string> first;
  Dump(fs, kRootId, "", &out, &first);
  return out;
}

// The layer entries of a tar: path -> type letter (and link target for hard links), then the
// names of its xattrs (each once: libarchive reads both pax records libarchive 3.6 writes).
std::map<std::string, std::string> Entries(const std::string& path) {
  std::map<std::string, std::string> out;
  struct archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  EXPECT_EQ(archive_read_open_filename(a, path.c_str(), 1 << 16), ARCHIVE_OK);
  struct archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    std::string what = S_ISDIR(archive_entry_mode(e)) ? "d" : S_ISLNK(archive_entry_mode(e)) ? "l" : "f";
    if (const char* link = archive_entry_hardlink(e)) what = std::string("h ") + link;
    std::set<std::string> xattrs;
    for (archive_entry_xattr_reset(e);;) {
      const char* name;
      const void* value;
      size_t size;
      if (archive_entry_xattr_next(e, &name, &value, &size) != ARCHIVE_OK) break;
      xattrs.insert(name);
    }
    for (const std::string& name : xattrs) what += " " + name;
    out[archive_entry_pathname(e)] = what;
  }
  archive_read_free(a);
  return out;
}

class ContainerDiffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (trusted.overlay.* xattrs, devices)";
    LayerBuilder(dir_ / "l1")
        .File("etc/motd", "motd\n")
        .File("etc/keep", "keep\n")
        .File("srv/a/one", "one\n")
        .File("srv/a/deep/two", "two\n")
        .Symlink("srv/a/link", "one")
        .File("opq/old", "old\n")
        .File("h/x", "linked\n")
        .Hardlink("h/y", "h/x")
        .Hardlink("srv/a/z", "h/x")
        .File("big", std::string(300000, 'b'))
        .Mtime("etc", 1600000000, 5);
    LayerBuilder(dir_ / "l0").File("etc/top", "top layer\n").Whiteout("etc/keep", testing::Encoding::kOci);
    for (const char* d : {"u", "w", "new"}) ASSERT_EQ(::mkdir((dir_ / d).c_str(), 0755), 0);
  }
  core::UnionConfig Config(bool writable, bool metacopy) {
    core::UnionConfig c;
    c.lowerdirs = {dir_ / "l0", dir_ / "l1"};
    if (writable) {
      c.upperdir = dir_ / "u";
      c.workdir = dir_ / "w";
    }
    c.metacopy = metacopy;
    return c;
  }
  Entry Look(UnionFs& fs, const std::string& path) {
    InodeId id = kRootId;
    Entry e{kRootId, {}};
    for (size_t p = 0; p < path.size();) {
      const size_t end = std::min(path.find('/', p), path.size());
      auto r = fs.Lookup(id, path.substr(p, end - p));
      EXPECT_TRUE(r) << path << ": " << r.error().Message();
      if (!r) return e;
      e = *r;
      id = e.id;
      p = end + 1;
    }
    return e;
  }
  // Everything a container does, through fs/core.
  void Change(UnionFs& fs) {
    const core::Caller root;
    auto created = fs.Create(Look(fs, "etc").id, "new", 0640, O_WRONLY, root);
    ASSERT_TRUE(created);
    ASSERT_EQ(::pwrite(*fs.HandleFd(*created->handle), "new\n", 4, 0), 4);
    ASSERT_TRUE(fs.Unlink(Look(fs, "etc").id, "motd"));
    ASSERT_TRUE(fs.Rename(kRootId, "srv", kRootId, "moved", 0));  // a redirect
    ASSERT_TRUE(fs.Unlink(Look(fs, "opq").id, "old"));
    ASSERT_TRUE(fs.Rmdir(kRootId, "opq"));
    ASSERT_TRUE(fs.MakeDir(kRootId, "opq", 0700, root));  // opaque
    AttrChange chmod;
    chmod.mode = 0600;
    ASSERT_TRUE(fs.SetAttr(Look(fs, "h/x").id, chmod));  // h/y and moved/a/z show it too
    ASSERT_TRUE(fs.SetAttr(Look(fs, "big").id, chmod));  // metacopy when on
    ASSERT_TRUE(fs.SetXattr(Look(fs, "etc/top").id, "user.note", "hi", 0));
    ASSERT_TRUE(fs.MakeSymlink(kRootId, "sl", "etc/top", root));
    ASSERT_TRUE(fs.MakeNode(kRootId, "null", S_IFCHR | 0666, makedev(1, 3), root));
  }
  // Writes the container's diff, extracts it as a layer and checks the union of the image
  // with that layer on top against the container's view.
  void CommitAndCompare(bool metacopy) {
    std::map<std::string, std::string> container;
    {
      auto fs = UnionFs::Open(Config(true, metacopy));
      ASSERT_TRUE(fs) << fs.error().Message();
      Change(**fs);
      container = View(**fs);
    }
    const std::string blob = dir_ / "layer.tar.gz";
    {
      UniqueFd fd = OpenFile(blob, O_RDWR | O_CREAT | O_TRUNC);
      auto tar = TarOut::Open(fd.Get(), Compression::kGzip);
      ASSERT_TRUE(tar);
      ContainerLayers layers{Config(false, false).lowerdirs, dir_ / "u", dir_ / "w", ""};
      auto stats = WriteContainerDiff(layers, **tar);
      ASSERT_TRUE(stats) << stats.error().Message();
      ASSERT_TRUE((*tar)->Finish());
      EXPECT_GE(stats->whiteouts, 4u);
    }
    const auto entries = Entries(blob);
    EXPECT_EQ(entries.count("etc/.wh.motd"), 1u);
    EXPECT_EQ(entries.count(".wh.srv"), 1u);
    EXPECT_EQ(entries.count("moved/.wh..wh..opq"), 1u) << "a renamed directory is opaque";
    EXPECT_EQ(entries.count("moved/a/deep/two"), 1u) << "and written out in full";
    EXPECT_EQ(entries.count("opq/.wh..wh..opq"), 1u);
    EXPECT_EQ(entries.count("opq/old"), 0u);
    EXPECT_EQ(entries.count("etc/keep"), 0u) << "unchanged lower entries stay below";
    ASSERT_EQ(entries.count("h/y"), 1u) << "the lower name showing the copied-up file";
    EXPECT_EQ(entries.at("h/y").substr(0, 1), "h");
    EXPECT_EQ(entries.at("etc/top"), "f user.note") << "no private xattrs";
    EXPECT_EQ(entries.at("big"), "f");

    UniqueFd fd = OpenFile(blob, O_RDONLY);
    UniqueFd dest = OpenFile(dir_ / "new", O_RDONLY | O_DIRECTORY);
    auto extracted = ExtractLayer(fd.Get(), dest.Get(), {});
    ASSERT_TRUE(extracted) << extracted.error().Message();
    core::UnionConfig image = Config(false, false);
    image.lowerdirs.insert(image.lowerdirs.begin(), dir_ / "new");
    auto committed = UnionFs::Open(image);
    ASSERT_TRUE(committed) << committed.error().Message();
    const auto view = View(**committed);
    for (const auto& [path, line] : container) {
      auto it = view.find(path);
      if (it == view.end()) {
        ADD_FAILURE() << path << " missing from the committed image";
        continue;
      }
      EXPECT_EQ(it->second, line) << path;
    }
    for (const auto& [path, line] : view) {
      EXPECT_TRUE(container.contains(path)) << path << " only in the committed image";
    }
  }
  TempDir dir_;
};

TEST_F(ContainerDiffTest, CommittedLayerShowsWhatTheContainerShowed) { CommitAndCompare(false); }

TEST_F(ContainerDiffTest, MetacopyFilesCarryTheirDataFromBelow) {
  CommitAndCompare(true);
  EXPECT_EQ(::lgetxattr((dir_ / "u/big").c_str(), "trusted.overlay.metacopy", nullptr, 0), 0)
      << "the container's big file was a metacopy file";
  struct stat st;
  ASSERT_EQ(::stat((dir_ / "new/big").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 300000);
  EXPECT_GT(st.st_blocks, 0) << "its data is in the committed layer";
}

TEST_F(ContainerDiffTest, AMountedContainerIsBusy) {
  auto fs = UnionFs::Open(Config(true, false));  // holds the workdir, as a mount does
  ASSERT_TRUE(fs);
  UniqueFd fd = OpenFile(dir_ / "t.tar", O_RDWR | O_CREAT | O_TRUNC);
  auto tar = TarOut::Open(fd.Get(), Compression::kNone);
  ASSERT_TRUE(tar);
  auto stats = WriteContainerDiff({Config(false, false).lowerdirs, dir_ / "u", dir_ / "w", ""},
                                  **tar);
  ASSERT_FALSE(stats);
  EXPECT_EQ(stats.error().code, EBUSY);
}

// Upper layers written in every encoding a writer leaves (kernel, OCI ".wh." files as an
// unprivileged stratafs writes them, user.overlay xattrs, fuse-overlayfs's opaque xattr,
// kernel 6.7 xattr whiteouts) become the same OCI entries.
class EncodingDiffTest : public ::testing::TestWithParam<testing::Encoding> {};

TEST_P(EncodingDiffTest, WhiteoutsAndOpaqueDirectoriesBecomeOciEntries) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (trusted.overlay.* xattrs, devices)";
  TempDir dir;
  LayerBuilder(dir / "l0").File("etc/motd", "motd\n").File("etc/keep", "keep\n").File("opq/old", "x");
  LayerBuilder upper(dir / "u");
  upper.File("etc/new", "new\n").Whiteout("etc/motd", GetParam()).Opaque("opq", GetParam());
  upper.File("opq/fresh", "fresh\n");
  ASSERT_EQ(::mkdir((dir / "w").c_str(), 0755), 0);
  const std::string blob = dir / "layer.tar";
  {
    UniqueFd fd = OpenFile(blob, O_RDWR | O_CREAT | O_TRUNC);
    auto tar = TarOut::Open(fd.Get(), Compression::kNone);
    ASSERT_TRUE(tar);
    auto stats = WriteContainerDiff({{dir / "l0"}, dir / "u", dir / "w", ""}, **tar);
    ASSERT_TRUE(stats) << stats.error().Message();
    ASSERT_TRUE((*tar)->Finish());
  }
  std::map<std::string, std::string> want = {{"./", "d"},
                                             {"etc", "d"},
                                             {"etc/.wh.motd", "f"},
                                             {"etc/new", "f"},
                                             {"opq", "d"},
                                             {"opq/.wh..wh..opq", "f"},
                                             {"opq/fresh", "f"}};
  // Types only, directories without their trailing '/' (libarchive writes "etc/").
  std::map<std::string, std::string> got;
  for (const auto& [path, what] : Entries(blob)) {
    const bool slash = path.size() > 2 && path.back() == '/';
    got[slash ? path.substr(0, path.size() - 1) : path] = what.substr(0, 1);
  }
  EXPECT_EQ(got, want);
}

INSTANTIATE_TEST_SUITE_P(AllEncodings, EncodingDiffTest,
                         ::testing::Values(testing::Encoding::kKernel, testing::Encoding::kOci,
                                           testing::Encoding::kUserXattr,
                                           testing::Encoding::kFuseOverlayfs,
                                           testing::Encoding::kXattrWhiteout),
                         [](const auto& info) { return std::string(EncodingName(info.param)); });

}  // namespace
}  // namespace strata::store
