#include "layerstore/import/image_commit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "layerstore/import/layer_extract.h"
#include "layerstore/reference.h"
#include "layerstore/tree_digest.h"

namespace strata::store {
namespace {

// Keeps the blob BLOB_FD (from offset 0) as PATH, mode 0600, and opens the kept file: a
// temporary file (the O_TMPFILE a pull downloaded into) is linked in, anything else copied
// (copy_file_range, which clones where the filesystem can), never hard-linked to a file the
// user owns. The kept bytes are the ones then verified and extracted.
Result<UniqueFd> KeepBlob(int blob_fd, const std::string& path) {
  struct stat st;
  if (::fstat(blob_fd, &st) != 0) return FailErrno("stat blob");
  if (st.st_nlink == 0 &&
      ::linkat(AT_FDCWD, ("/proc/self/fd/" + std::to_string(blob_fd)).c_str(), AT_FDCWD,
               path.c_str(), AT_SYMLINK_FOLLOW) == 0) {
    UniqueFd kept(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!kept) return FailErrno(path);
    return kept;
  }
  UniqueFd out(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!out) return FailErrno("create " + path);
  loff_t in_off = 0;
  while (in_off < st.st_size) {
    ssize_t n = ::copy_file_range(blob_fd, &in_off, out.Get(), nullptr,
                                  static_cast<size_t>(st.st_size - in_off), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
      char buf[1 << 16];
      n = ::pread(blob_fd, buf, sizeof(buf), in_off);
      if (n > 0 && ::write(out.Get(), buf, static_cast<size_t>(n)) != n) n = -1;
      if (n > 0) in_off += n;
    }
    if (n < 0) return FailErrno("copy blob to " + path);
    if (n == 0) return Fail(EIO, "blob shrank while being kept");
  }
  if (::lseek(out.Get(), 0, SEEK_SET) != 0) return FailErrno("seek " + path);
  return out;
}

}  // namespace

Status ImportLayerBlob(Store& store, int blob_fd, const std::optional<Digest>& expected_blob,
                       const Digest& diff_id, const std::string& where) {
  STRATA_ASSIGN_OR_RETURN(std::string work, store.MakeWorkDir());
  Digest tree;
  uint64_t blob_size = 0;
  auto extracted = [&]() -> Result<ExtractResult> {
    UniqueFd dest(::open((work + "/diff").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dest) return FailErrno(work);
    STRATA_ASSIGN_OR_RETURN(UniqueFd kept, KeepBlob(blob_fd, work + "/blob"));
    struct stat st;
    if (::fstat(kept.Get(), &st) != 0) return FailErrno("stat kept blob");
    blob_size = static_cast<uint64_t>(st.st_size);
    ExtractOptions opts;
    opts.privileged = ::geteuid() == 0;
    STRATA_ASSIGN_OR_RETURN(ExtractResult r, ExtractLayer(kept.Get(), dest.Get(), opts));
    if (expected_blob && !(r.blob_digest == *expected_blob)) {
      return Fail(EINVAL,
                  "blob sha256 is " + r.blob_digest.String() + ", not " + expected_blob->String());
    }
    if (!(r.diff_id == diff_id)) {
      return Fail(EINVAL, "uncompressed sha256 is " + r.diff_id.String() +
                              ", but the config's diff_id is " + diff_id.String());
    }
    STRATA_ASSIGN_OR_RETURN(tree, TreeDigest(dest.Get()));  // for `strata verify`
    return r;
  }();
  if (!extracted) {
    (void)RemoveAll(work);
    return Fail(extracted.error().code, where + ": " + extracted.error().context);
  }
  LayerRecord record{diff_id,   extracted->blob_digest, extracted->compression,
                     blob_size, extracted->tar_bytes,   tree};
  return store.PublishLayer(work, record);
}

Result<bool> EnsureLayer(Store& store, const ImportOptions& options, size_t index, size_t count,
                         const Digest& diff_id, const std::function<Result<UniqueFd>()>& open_blob,
                         const std::optional<Digest>& expected_blob, const std::string& where) {
  LayerProgress progress{index, count, diff_id, !store.HasLayer(diff_id), false, 0, 0};
  if (options.on_layer) options.on_layer(progress);
  if (progress.extracting) {
    const auto start = std::chrono::steady_clock::now();
    STRATA_ASSIGN_OR_RETURN(UniqueFd blob, open_blob());
    STRATA_RETURN_IF_ERROR(ImportLayerBlob(store, blob.Get(), expected_blob, diff_id, where));
    progress.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (auto record = store.GetLayer(diff_id)) progress.bytes = record->tar_size;
  }
  progress.done = true;
  if (options.on_layer) options.on_layer(progress);
  return progress.extracting;
}

Result<std::vector<Digest>> ConfigDiffIds(const std::string& config_text, size_t layer_count,
                                          const std::string& what) {
  using Json = nlohmann::json;
  Json config = Json::parse(config_text, nullptr, false);
  if (config.is_discarded() || !config.is_object())
    return Fail(EINVAL, what + ": not a JSON object");
  const Json rootfs = config.value("rootfs", Json::object());
  if (!rootfs.is_object() || rootfs.value("type", "") != "layers") {
    return Fail(EINVAL, what + ": rootfs.type is not 'layers'");
  }
  if (!rootfs.contains("diff_ids") || !rootfs["diff_ids"].is_array()) {
    return Fail(EINVAL, what + ": no rootfs.diff_ids");
  }
  const Json& diff_ids = rootfs["diff_ids"];
  if (diff_ids.size() != layer_count) {
    return Fail(EINVAL, what + ": lists " + std::to_string(diff_ids.size()) + " diff_ids for " +
                            std::to_string(layer_count) + " layers");
  }
  std::vector<Digest> out;
  for (const Json& d : diff_ids) {
    if (!d.is_string()) return Fail(EINVAL, what + ": a diff_id is not a string");
    auto digest = ParseDigest(d.get<std::string>());
    if (!digest) return Fail(EINVAL, what + ": " + digest.error().context);
    out.push_back(*digest);
  }
  return out;
}

std::string LayerMediaType(const std::string& compression) {
  if (compression == "gzip") return "application/vnd.oci.image.layer.v1.tar+gzip";
  if (compression == "zstd") return "application/vnd.oci.image.layer.v1.tar+zstd";
  return "application/vnd.oci.image.layer.v1.tar";
}

Result<std::string> ManifestOfStoredLayers(const Store& store, const Digest& config_digest,
                                           const std::string& config_text,
                                           const std::vector<Digest>& diff_ids) {
  using Json = nlohmann::json;
  Json layers = Json::array();
  for (const Digest& d : diff_ids) {
    STRATA_ASSIGN_OR_RETURN(LayerRecord record, store.GetLayer(d));
    layers.push_back({{"mediaType", LayerMediaType(record.compression)},
                      {"digest", record.blob_digest.String()},
                      {"size", record.blob_size}});
  }
  const Json manifest = {{"schemaVersion", 2},
                         {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                         {"config",
                          {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                           {"digest", config_digest.String()},
                           {"size", config_text.size()}}},
                         {"layers", layers}};
  return manifest.dump();
}

Result<ImportedImage> CommitImage(Store& store, const ImageDocuments& docs) {
  using Json = nlohmann::json;
  Json config = Json::parse(docs.config, nullptr, false);
  if (config.is_discarded() || !config.is_object())
    return Fail(EINVAL, "config: not a JSON object");
  ImageRecord image;
  image.id = docs.config_digest;
  image.manifest_digest = docs.manifest_digest;
  image.diff_ids = docs.diff_ids;
  image.os = config.value("os", "");
  image.architecture = config.value("architecture", "");
  image.variant = config.value("variant", "");
  image.created = config.value("created", "");
  for (size_t i = 0; i < image.diff_ids.size(); ++i) {
    std::vector<Digest> prefix(image.diff_ids.begin(),
                               image.diff_ids.begin() + static_cast<long>(i) + 1);
    STRATA_ASSIGN_OR_RETURN(Digest chain, ChainId(prefix));
    image.chain_ids.push_back(chain);
  }
  std::vector<std::string> names;
  for (const std::string& name : docs.names) {
    STRATA_ASSIGN_OR_RETURN(std::string normalized, NormalizeName(name));
    names.push_back(normalized);
    image.repo_digests.push_back({RepositoryOf(normalized), docs.manifest_digest});
  }
  if (names.empty()) image.repo_digests.push_back({"", docs.manifest_digest});
  STRATA_RETURN_IF_ERROR(store.PutBlob(docs.manifest_digest, docs.manifest));
  STRATA_RETURN_IF_ERROR(store.PutBlob(docs.config_digest, docs.config));
  STRATA_RETURN_IF_ERROR(store.PutImage(image));
  ImportedImage result;
  result.id = image.id;
  for (const std::string& normalized : names) {
    STRATA_RETURN_IF_ERROR(store.SetName(normalized, image.id));
    result.names.push_back(normalized);
  }
  return result;
}

}  // namespace strata::store
