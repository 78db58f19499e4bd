// The store, references and OCI import over layouts written here (layers by TarWriter,
// JSON by hand with real digests), including the malformed and lying ones.
#include "layerstore/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "layerstore/image_ops.h"
#include "layerstore/import/oci_import.h"
#include "layerstore/reference.h"
#include "tests/support/tar_writer.h"
#include "tests/support/temp_dir.h"

namespace strata::store {
namespace {

using Json = nlohmann::json;
using testing::Compression;
using testing::TarWriter;

// Writes an OCI image layout: blobs, one manifest, its config, index.json.
class LayoutBuilder {
 public:
  explicit LayoutBuilder(std::string dir) : dir_(std::move(dir)) {
    ::mkdir(dir_.c_str(), 0755);
    ::mkdir((dir_ + "/blobs").c_str(), 0755);
    ::mkdir((dir_ + "/blobs/sha256").c_str(), 0755);
    Write("oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  }
  Json Blob(const std::string& data, const std::string& media_type) {
    const Digest d = Sha256Of(data);
    Write("blobs/sha256/" + d.encoded, data);
    return {{"mediaType", media_type}, {"digest", d.String()}, {"size", data.size()}};
  }
  // Adds a layer; DIFF is the uncompressed tar.
  void Layer(const std::string& tar, const std::string& blob) {
    layers_.push_back(Blob(blob, "application/vnd.oci.image.layer.v1.tar+gzip"));
    diff_ids_.push_back(Sha256Of(tar).String());
  }
  // Builds config + manifest (+ lets the test corrupt them first) and writes index.json.
  Json Finish(const std::function<void(Json& config, Json& manifest)>& edit = {}) {
    Json config = {{"architecture", "amd64"},
                   {"os", "linux"},
                   {"created", "2026-01-01T00:00:00Z"},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids_}}}};
    Json manifest = {{"schemaVersion", 2},
                     {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                     {"layers", layers_}};
    if (edit) edit(config, manifest);
    manifest["config"] = Blob(config.dump(), "application/vnd.oci.image.config.v1+json");
    Json desc = Blob(manifest.dump(), "application/vnd.oci.image.manifest.v1+json");
    desc["annotations"] = {{"org.opencontainers.image.ref.name", "v1"}};
    Write("index.json", Json{{"schemaVersion", 2}, {"manifests", {desc}}}.dump());
    return desc;
  }
  void Write(const std::string& rel, const std::string& data) {
    std::ofstream(dir_ + "/" + rel, std::ios::binary) << data;
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  Json layers_ = Json::array();
  Json diff_ids_ = Json::array();
};

std::string SimpleTar(const std::string& name, const std::string& content) {
  TarWriter t;
  t.Dir("etc").File("etc/" + name, content);
  return t.Finish();
}

std::string Gzip(const std::string& name, const std::string& content) {
  TarWriter t(Compression::kGzip);
  t.Dir("etc").File("etc/" + name, content);
  return t.Finish();
}

class ImportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "privileged extraction needs root";
    auto s = Store::Open(dir_ / "store", Store::Lock::kShared);
    ASSERT_TRUE(s) << s.error().Message();
    store_.emplace(std::move(*s));
  }
  Result<std::vector<ImportedImage>> Import(const std::string& source, ImportOptions o = {}) {
    o.platform = "linux/amd64";
    return ImportImage(*store_, source, o);
  }
  size_t Count(const std::string& rel) {
    auto r = ListDirNames(dir_ / ("store/" + rel));
    return r;
  }
  static size_t ListDirNames(const std::string& path) {
    size_t n = 0;
    if (DIR* d = ::opendir(path.c_str())) {
      while (struct dirent* de = ::readdir(d)) n += de->d_name[0] != '.';
      ::closedir(d);
    }
    return n;
  }
  // A two-layer image; CORRUPT edits its config/manifest before they are written.
  std::string Layout(const std::function<void(Json&, Json&)>& corrupt = {}) {
    LayoutBuilder b(dir_ / "layout");
    b.Layer(SimpleTar("a", "A"), Gzip("a", "A"));
    b.Layer(SimpleTar("b", "B"), SimpleTar("b", "B"));
    b.Finish(corrupt);
    return b.dir();
  }
  void ExpectRefused(const std::string& source, const std::string& message) {
    auto r = Import(source);
    ASSERT_FALSE(r) << "accepted";
    EXPECT_NE(r.error().Message().find(message), std::string::npos) << r.error().Message();
    EXPECT_EQ(Count("images"), 0u) << "nothing published";
    EXPECT_EQ(Count("tmp"), 0u) << "no work left behind";
  }

  testing::TempDir dir_;
  std::optional<Store> store_;
};

TEST_F(ImportTest, ImportsVerifiesAndShares) {
  auto r = Import(Layout());
  ASSERT_TRUE(r) << r.error().Message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].layers_extracted, 2u);
  EXPECT_EQ((*r)[0].names, (std::vector<std::string>{"localhost/layout:v1"}));
  auto image = store_->GetImage((*r)[0].id);
  ASSERT_TRUE(image);
  ASSERT_EQ(image->diff_ids.size(), 2u);
  EXPECT_EQ(image->chain_ids[0], image->diff_ids[0]);
  EXPECT_EQ(image->chain_ids[1], *ChainId(image->diff_ids));
  struct stat st;
  EXPECT_EQ(::stat((store_->LayerDir(image->diff_ids[0]) + "/etc/a").c_str(), &st), 0);
  auto layer = store_->GetLayer(image->diff_ids[0]);
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->compression, "gzip");
  // Again: nothing extracted; a second name is an alias of the same image.
  ImportOptions named;
  named.name = "other:tag";
  auto again = Import(dir_ / "layout", named);
  ASSERT_TRUE(again);
  EXPECT_EQ((*again)[0].layers_reused, 2u);
  EXPECT_EQ((*again)[0].id, (*r)[0].id);
  EXPECT_EQ(store_->ListNames()->size(), 2u);
  EXPECT_EQ(Count("layers"), 2u);
}

TEST_F(ImportTest, OciArchivesToo) {
  const std::string layout = Layout();
  auto write_archive = [&](const std::string& path, bool hostile) {
    TarWriter archive(Compression::kGzip);
    for (const char* f : {"oci-layout", "index.json"}) {
      std::ifstream in(layout + "/" + f);
      archive.File(f, std::string(std::istreambuf_iterator<char>(in), {}));
    }
    for (const auto& e : std::filesystem::directory_iterator(layout + "/blobs/sha256")) {
      std::ifstream in(e.path(), std::ios::binary);
      archive.File("blobs/sha256/" + e.path().filename().string(),
                   std::string(std::istreambuf_iterator<char>(in), {}));
    }
    if (hostile) archive.File("../evil", "x");
    std::ofstream(path, std::ios::binary) << archive.Finish();
  };
  write_archive(dir_ / "hostile.tar.gz", true);
  ExpectRefused(dir_ / "hostile.tar.gz", "escapes");
  write_archive(dir_ / "image.tar.gz", false);
  auto r = Import("oci-archive:" + (dir_ / "image.tar.gz") + ":v1");
  ASSERT_TRUE(r) << r.error().Message();
  EXPECT_EQ((*r)[0].names, (std::vector<std::string>{"localhost/image:v1"}));
  EXPECT_EQ(Count("tmp"), 0u);
}

TEST_F(ImportTest, LyingDocumentsAreRefused) {
  ExpectRefused(
      Layout([](Json& config, Json&) { config["rootfs"]["diff_ids"][1] = Sha256Of("x").String(); }),
      "diff_id");
}

TEST_F(ImportTest, CountMismatch) {
  ExpectRefused(Layout([](Json& config, Json&) { config["rootfs"]["diff_ids"].erase(1); }),
                "1 diff_ids");
}

TEST_F(ImportTest, RootfsType) {
  ExpectRefused(Layout([](Json& config, Json&) { config["rootfs"]["type"] = "tarballs"; }),
                "rootfs.type");
}

TEST_F(ImportTest, LayerSizeLies) {
  ExpectRefused(Layout([](Json&, Json& m) { m["layers"][0]["size"] = 5; }), "descriptor says");
}

TEST_F(ImportTest, LayerDigestLies) {
  ExpectRefused(Layout([](Json&, Json& m) {
                  // Point at the other layer's blob but keep this one's size: size check first.
                  m["layers"][0]["digest"] = Sha256Of("missing").String();
                }),
                "blob");
}

TEST_F(ImportTest, DigestUsedAsPathIsValidatedFirst) {
  ExpectRefused(
      Layout([](Json&, Json& m) { m["layers"][0]["digest"] = "sha256:../../../etc/passwd"; }),
      "malformed encoding");
}

TEST_F(ImportTest, MediaTypeMustAgree) {
  ExpectRefused(
      Layout([](Json&, Json& m) { m["mediaType"] = "application/vnd.oci.image.index.v1+json"; }),
      "disagrees");
}

TEST_F(ImportTest, OversizedJsonIsRefused) {
  LayoutBuilder b(dir_ / "big");
  b.Layer(SimpleTar("a", "A"), SimpleTar("a", "A"));
  Json desc = b.Finish();
  desc["size"] = 64 << 20;
  b.Write("index.json", Json{{"schemaVersion", 2}, {"manifests", {desc}}}.dump());
  ExpectRefused(b.dir(), "too large");
}

TEST_F(ImportTest, MultiPlatformIndexes) {
  LayoutBuilder b(dir_ / "multi");
  Json index_entries = Json::array();
  for (const char* arch : {"amd64", "arm64"}) {
    const std::string tar = SimpleTar(std::string("arch-") + arch, arch);
    Json layer = b.Blob(tar, "application/vnd.oci.image.layer.v1.tar");
    Json config = {{"architecture", arch},
                   {"os", "linux"},
                   {"rootfs", {{"type", "layers"}, {"diff_ids", {Sha256Of(tar).String()}}}}};
    Json manifest = {{"schemaVersion", 2},
                     {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                     {"config", b.Blob(config.dump(), "application/vnd.oci.image.config.v1+json")},
                     {"layers", {layer}}};
    Json desc = b.Blob(manifest.dump(), "application/vnd.oci.image.manifest.v1+json");
    desc["platform"] = {{"os", "linux"}, {"architecture", arch}};
    index_entries.push_back(desc);
  }
  // index.json -> a nested index -> two platform manifests.
  Json nested = {{"schemaVersion", 2},
                 {"mediaType", "application/vnd.oci.image.index.v1+json"},
                 {"manifests", index_entries}};
  Json nested_desc = b.Blob(nested.dump(), "application/vnd.oci.image.index.v1+json");
  nested_desc["annotations"] = {{"org.opencontainers.image.ref.name", "multi:1"}};
  b.Write("index.json", Json{{"schemaVersion", 2}, {"manifests", {nested_desc}}}.dump());

  ImportOptions arm;
  arm.platform = "linux/arm64";
  auto r = ImportImage(*store_, b.dir(), arm);
  ASSERT_TRUE(r) << r.error().Message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(store_->GetImage((*r)[0].id)->architecture, "arm64");
  EXPECT_EQ((*r)[0].names, (std::vector<std::string>{"localhost/multi:1"}));
  ImportOptions all;
  all.all_platforms = true;
  all.platform = "linux/amd64";
  auto both = ImportImage(*store_, b.dir(), all);
  ASSERT_TRUE(both) << both.error().Message();
  ASSERT_EQ(both->size(), 2u);
  // The wanted platform keeps the name; the other gets its own.
  auto names = store_->ListNames();
  ASSERT_TRUE(names);
  std::map<std::string, std::string> arch_of;
  for (const auto& [name, id] : *names) arch_of[name] = store_->GetImage(id)->architecture;
  EXPECT_EQ(arch_of["localhost/multi:1"], "amd64");
  EXPECT_EQ(arch_of["localhost/multi:1-linux-arm64"], "arm64");
  ImportOptions none;
  none.platform = "linux/s390x";
  auto missing = ImportImage(*store_, b.dir(), none);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().Message().find("linux/s390x"), std::string::npos);
}

// A multi-platform image in containers/image's dir: format, as `skopeo copy --all` writes it:
// blobs as <hex>, the index as manifest.json, each instance manifest as <hex>.manifest.json.
TEST_F(ImportTest, DirTransportHoldingAnIndex) {
  const std::string dir = dir_ / "dirimage";
  ::mkdir(dir.c_str(), 0755);
  auto write = [&](const std::string& name, const std::string& data) {
    std::ofstream(dir + "/" + name, std::ios::binary) << data;
  };
  write("version", "Directory Transport Version: 1.1\n");
  Json manifests = Json::array();
  for (const char* arch : {"amd64", "arm64"}) {
    const std::string tar = SimpleTar(std::string("arch-") + arch, arch);
    write(Sha256Of(tar).encoded, tar);
    const std::string config =
        Json{{"architecture", arch},
             {"os", "linux"},
             {"rootfs", {{"type", "layers"}, {"diff_ids", {Sha256Of(tar).String()}}}}}
            .dump();
    write(Sha256Of(config).encoded, config);
    const std::string manifest = Json{
        {"schemaVersion", 2},
        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
        {"config",
         {{"mediaType", "application/vnd.oci.image.config.v1+json"},
          {"digest", Sha256Of(config).String()},
          {"size", config.size()}}},
        {"layers",
         {{{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
           {"digest", Sha256Of(tar).String()},
           {"size", tar.size()}}}}}.dump();
    write(Sha256Of(manifest).encoded + ".manifest.json", manifest);
    manifests.push_back({{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                         {"digest", Sha256Of(manifest).String()},
                         {"size", manifest.size()},
                         {"platform", {{"os", "linux"}, {"architecture", arch}}}});
  }
  write("manifest.json", Json{{"schemaVersion", 2},
                              {"mediaType", "application/vnd.oci.image.index.v1+json"},
                              {"manifests", manifests}}
                             .dump());
  ImportOptions arm;
  arm.platform = "linux/arm64";
  auto r = ImportImage(*store_, "dir:" + dir, arm);
  ASSERT_TRUE(r) << r.error().Message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(store_->GetImage((*r)[0].id)->architecture, "arm64");
  EXPECT_EQ((*r)[0].names, (std::vector<std::string>{"localhost/dirimage:latest"}));
  // A tampered instance manifest is refused.
  const std::string victim = manifests[0]["digest"].get<std::string>().substr(7);
  write(victim + ".manifest.json", "{}");
  ImportOptions amd;
  amd.platform = "linux/amd64";
  auto bad = ImportImage(*store_, "dir:" + dir, amd);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().Message().find(victim), std::string::npos) << bad.error().Message();
}

TEST_F(ImportTest, NotAnImage) {
  ::mkdir((dir_ / "empty").c_str(), 0755);
  ExpectRefused(dir_ / "empty", "not an image");
  auto missing = Import("dir:" + (dir_ / "missing"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  ExpectRefused("dir:" + (dir_ / "empty"), "version");
}

// A docker-archive as the containers/image writer makes it: <diffID>.tar layers, <id>.json
// config, and legacy <id>/layer.tar symlinks; plus whatever EXTRA adds.
std::string DockerArchive(const std::function<void(Json& manifest, TarWriter& t)>& extra = {}) {
  const std::string l1 = SimpleTar("one", "1"), l2 = SimpleTar("two", "2");
  Json config = {
      {"architecture", "amd64"},
      {"os", "linux"},
      {"rootfs",
       {{"type", "layers"}, {"diff_ids", {Sha256Of(l1).String(), Sha256Of(l2).String()}}}}};
  const std::string config_text = config.dump();
  const std::string c = Sha256Of(config_text).encoded;
  const std::string d1 = Sha256Of(l1).encoded, d2 = Sha256Of(l2).encoded;
  TarWriter t;
  t.File(d1 + ".tar", l1).File(d2 + ".tar", l2).File(c + ".json", config_text);
  t.Dir("legacy").Symlink("legacy/layer.tar", "../" + d2 + ".tar");
  Json manifest = Json::array({{{"Config", c + ".json"},
                                {"RepoTags", {"app:1", "app:latest"}},
                                {"Layers", {d1 + ".tar", "legacy/layer.tar"}}}});
  if (extra) extra(manifest, t);
  t.File("manifest.json", manifest.dump());
  return t.Finish();
}

TEST_F(ImportTest, DockerArchives) {
  std::ofstream(dir_ / "d.tar", std::ios::binary) << DockerArchive();
  auto r = Import(dir_ / "d.tar");
  ASSERT_TRUE(r) << r.error().Message();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].names, (std::vector<std::string>{"localhost/app:1", "localhost/app:latest"}));
  EXPECT_EQ((*r)[0].layers_extracted, 2u);
  auto image = store_->GetImage((*r)[0].id);
  ASSERT_TRUE(image);
  struct stat st;
  EXPECT_EQ(::stat((store_->LayerDir(image->diff_ids[1]) + "/etc/two").c_str(), &st), 0);
  // The manifest written in its place describes the stored layers.
  auto manifest = Json::parse(*store_->GetBlob(image->manifest_digest));
  EXPECT_EQ(manifest["layers"].size(), 2u);
  EXPECT_EQ(manifest["config"]["digest"], image->id.String());
  auto by_index = Import("docker-archive:" + (dir_ / "d.tar") + ":@0");
  ASSERT_TRUE(by_index) << by_index.error().Message();
  EXPECT_EQ((*by_index)[0].layers_reused, 2u);
  EXPECT_FALSE(Import("docker-archive:" + (dir_ / "d.tar") + ":@5"));
  EXPECT_FALSE(Import("docker-archive:" + (dir_ / "d.tar") + ":other:tag"));
}

TEST_F(ImportTest, DockerArchivePathsStayInside) {
  std::ofstream(dir_ / "escape.tar", std::ios::binary)
      << DockerArchive([](Json& m, TarWriter&) { m[0]["Layers"][0] = "../../../../etc/passwd"; });
  ExpectRefused(dir_ / "escape.tar", "outside the image");
  std::ofstream(dir_ / "link.tar", std::ios::binary) << DockerArchive([](Json& m, TarWriter& t) {
    t.Symlink("evil.tar", "/etc/passwd");
    m[0]["Layers"][0] = "evil.tar";
  });
  ExpectRefused(dir_ / "link.tar", "outside the image");
}

TEST_F(ImportTest, ArchivesNeverWriteThroughTheirOwnSymlinks) {
  ::mkdir((dir_ / "outside").c_str(), 0755);
  TarWriter t;
  t.Symlink("blobs", dir_ / "outside").File("blobs/sha256/evil", "x").File("manifest.json", "[]");
  std::ofstream(dir_ / "through.tar", std::ios::binary) << t.Finish();
  ExpectRefused(dir_ / "through.tar", "not a directory");
  EXPECT_EQ(ListDirNames(dir_ / "outside"), 0u) << "written through the archive's symlink";
}

TEST_F(ImportTest, DockerArchiveConfigMustMatchItsName) {
  std::ofstream(dir_ / "cfg.tar", std::ios::binary) << DockerArchive([](Json& m, TarWriter& t) {
    const std::string fake = std::string(64, 'a') + ".json";
    t.File(fake, R"({"rootfs":{"type":"layers","diff_ids":[]}})");
    m[0]["Config"] = fake;
  });
  ExpectRefused(dir_ / "cfg.tar", "hashes to");
}

TEST(ReferenceTest, NormalizeAndResolve) {
  EXPECT_EQ(*NormalizeName("busybox"), "localhost/busybox:latest");
  EXPECT_EQ(*NormalizeName("quay.io/a/b:1.0"), "quay.io/a/b:1.0");
  EXPECT_EQ(*NormalizeName("localhost:5000/x"), "localhost:5000/x:latest");
  EXPECT_EQ(*NormalizeName("docker.io/library/alpine"), "docker.io/library/alpine:latest");
  EXPECT_FALSE(NormalizeName("Upper/Case"));
  EXPECT_FALSE(NormalizeName("a b"));
  const Digest a = Sha256Of("a"), b = Sha256Of("b");
  std::vector<std::pair<std::string, Digest>> names = {{"localhost/app:latest", a}};
  std::vector<Digest> ids = {a, b};
  EXPECT_EQ(*ResolveReference("app", names, ids), a);
  EXPECT_EQ(*ResolveReference(b.encoded.substr(0, 12), names, ids), b);
  EXPECT_EQ(*ResolveReference(b.String(), names, ids), b);
  EXPECT_EQ(*ResolveReference("app@" + b.String(), names, ids), b);
  EXPECT_EQ(ResolveReference("nope", names, ids).error().code, ENOENT);
  names.emplace_back("docker.io/library/web:1", b);
  EXPECT_EQ(*ResolveReference("web:1", names, ids), b) << "short names find registry names";
  names.emplace_back("quay.io/x/web:1", a);
  EXPECT_EQ(ResolveReference("web:1", names, ids).error().code, EINVAL) << "ambiguous";
}

TEST(StoreTest, RemovingAShortNameOfAnAliasOnlyUntags) {
  testing::TempDir dir;
  auto store = Store::Open(dir / "s", Store::Lock::kExclusive);
  ASSERT_TRUE(store);
  ImageRecord image;
  image.id = Sha256Of("config");
  image.manifest_digest = Sha256Of("manifest");
  ASSERT_TRUE(store->PutImage(image));
  ASSERT_TRUE(store->SetName("docker.io/library/app:v1", image.id));
  ASSERT_TRUE(store->SetName("localhost/other:1", image.id));
  auto first = RemoveReference(*store, "app:v1");  // a short name of a registry name
  ASSERT_TRUE(first) << first.error().Message();
  EXPECT_EQ(first->untagged, "docker.io/library/app:v1");
  EXPECT_FALSE(first->image_removed);
  EXPECT_TRUE(store->GetImage(image.id)) << "the image keeps its other name";
  auto last = RemoveReference(*store, "other:1");
  ASSERT_TRUE(last);
  EXPECT_TRUE(last->image_removed);
  EXPECT_FALSE(store->GetImage(image.id));
  EXPECT_TRUE(store->ListNames()->empty());
}

// A store another user could change is refused before anything in it is read or written.
TEST(StoreTest, AStoreOthersCanChangeIsRefused) {
  testing::TempDir dir;
  const std::string root = dir / "s";
  ASSERT_TRUE(Store::Open(root, Store::Lock::kExclusive));
  ASSERT_EQ(::chmod(root.c_str(), 0777), 0);
  auto writable = Store::Open(root, Store::Lock::kExclusive);
  ASSERT_FALSE(writable);
  EXPECT_EQ(writable.error().code, EPERM);
  EXPECT_NE(writable.error().Message().find("writable by group or others (mode 0777)"),
            std::string::npos)
      << writable.error().Message();
  ASSERT_EQ(::chmod(root.c_str(), 0755), 0);
  EXPECT_TRUE(Store::Open(root, Store::Lock::kExclusive)) << "0755 is fine";

  // A planted symlink in place of one of the store's directories.
  std::filesystem::rename(root + "/images", root + "/images.real");
  ASSERT_EQ(::symlink((root + "/images.real").c_str(), (root + "/images").c_str()), 0);
  auto planted = Store::Open(root, Store::Lock::kExclusive);
  ASSERT_FALSE(planted);
  EXPECT_NE(planted.error().Message().find(root + "/images is not a directory of this user"),
            std::string::npos)
      << planted.error().Message();
  ASSERT_EQ(::unlink((root + "/images").c_str()), 0);
  std::filesystem::rename(root + "/images.real", root + "/images");

  if (::geteuid() != 0) GTEST_SKIP() << "another owner needs root to chown";
  ASSERT_EQ(::chown(root.c_str(), 65534, 65534), 0);
  auto foreign = Store::Open(root, Store::Lock::kExclusive);
  ASSERT_FALSE(foreign);
  EXPECT_NE(foreign.error().Message().find("belongs to uid 65534"), std::string::npos)
      << foreign.error().Message();
  ASSERT_EQ(::chown(root.c_str(), 0, 0), 0);
  ASSERT_EQ(::chown((root + "/lock").c_str(), 65534, 65534), 0);
  EXPECT_FALSE(Store::Open(root, Store::Lock::kExclusive)) << "a lock file of another user";
}

TEST(StoreTest, BlobsAreVerifiedAndPublishedAtomically) {
  testing::TempDir dir;
  auto store = Store::Open(dir / "s", Store::Lock::kExclusive);
  ASSERT_TRUE(store);
  EXPECT_FALSE(store->PutBlob(Sha256Of("x"), "y")) << "content must match its digest";
  ASSERT_TRUE(store->PutBlob(Sha256Of("x"), "x"));
  EXPECT_EQ(*store->GetBlob(Sha256Of("x")), "x");
  ASSERT_TRUE(store->SetName("localhost/a:1", Sha256Of("x")));
  ASSERT_TRUE(store->SetName("localhost/b:1", Sha256Of("x")));
  EXPECT_EQ(store->ListNames()->size(), 2u);
  ASSERT_TRUE(store->RemoveName("localhost/a:1"));
  EXPECT_EQ(store->RemoveName("localhost/a:1").error().code, ENOENT);
  auto garbage = store->CollectGarbage();
  ASSERT_TRUE(garbage);
  EXPECT_EQ(garbage->size(), 1u) << "the blob no image references";
}

}  // namespace
}  // namespace strata::store

namespace strata::store {
namespace {

TEST(ContainerStoreTest, ContainersPinTheirImageAndAreRemovedWhole) {
  testing::TempDir dir;
  auto store = Store::Open(dir / "store", Store::Lock::kExclusive);
  ASSERT_TRUE(store) << store.error().Message();
  ImageRecord image;
  image.id = Sha256Of("config");
  image.manifest_digest = Sha256Of("manifest");
  ASSERT_TRUE(store->PutImage(image));
  auto made = store->EnsureContainer("web", image.id);
  ASSERT_TRUE(made) << made.error().Message();
  struct stat st;
  EXPECT_EQ(::stat(made->upper.c_str(), &st), 0);
  EXPECT_EQ(::stat(made->work.c_str(), &st), 0);
  // The same name again is the same container; for another image it is refused.
  auto again = store->EnsureContainer("web", image.id);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->upper, made->upper);
  EXPECT_EQ(store->EnsureContainer("web", Sha256Of("other")).error().code, EEXIST);
  for (const char* bad : {"", "-x", "a/b", "..", ".hidden", "a b"}) {
    EXPECT_EQ(store->EnsureContainer(bad, image.id).error().code, EINVAL) << bad;
  }
  // The container keeps its image: not removable, not pruned as unnamed.
  EXPECT_EQ(store->RemoveImage(image.id).error().code, EBUSY);
  auto pruned = RemoveUnnamedImages(*store);
  ASSERT_TRUE(pruned);
  EXPECT_TRUE(pruned->empty());
  ASSERT_EQ(store->ListContainers()->size(), 1u);
  ASSERT_TRUE(store->RemoveContainer("web"));
  EXPECT_EQ(store->ListContainers()->size(), 0u);
  EXPECT_EQ(store->RemoveContainer("web").error().code, ENOENT);
  EXPECT_TRUE(store->RemoveImage(image.id));
}

}  // namespace
}  // namespace strata::store
