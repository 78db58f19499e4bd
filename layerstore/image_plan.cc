#include "layerstore/image_plan.h"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "layerstore/import/image_commit.h"

namespace strata::store {
namespace {

using Json = nlohmann::json;

// The manifest the image was received with if it names exactly the kept layer blobs.
bool ManifestMatches(const std::string& text, const PlannedImage& p) {
  const Json m = Json::parse(text, nullptr, false);
  if (m.is_discarded() || !m.is_object() || !m.contains("layers") || !m["layers"].is_array() ||
      m["layers"].size() != p.layers.size() || !m.contains("config") ||
      !m["config"].is_object() || m["config"].value("digest", "") != p.image.id.String()) {
    return false;
  }
  for (size_t i = 0; i < p.layers.size(); ++i) {
    const Json& d = m["layers"][i];
    if (!d.is_object() || d.value("digest", "") != p.layers[i].record.blob_digest.String() ||
        d.value("size", uint64_t{0}) != p.layers[i].record.blob_size) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<PlannedImage> PlanImage(const Store& store, const Digest& id,
                               const std::string& repository,
                               const std::optional<Digest>& manifest) {
  PlannedImage p;
  STRATA_ASSIGN_OR_RETURN(p.image, store.GetImage(id));
  STRATA_ASSIGN_OR_RETURN(p.config, store.GetBlob(id));
  for (const Digest& d : p.image.diff_ids) {
    STRATA_ASSIGN_OR_RETURN(LayerRecord record, store.GetLayer(d));
    const std::string path = store.LayerBlobPath(d);
    if (::access(path.c_str(), R_OK) != 0) {
      return Fail(ENOENT, "layer " + d.String() + " of image " + id.String() +
                              " was stored without its blob (by an older strata): remove the "
                              "image and import or pull it again");
    }
    p.layers.push_back({record, path});
  }
  std::vector<Digest> candidates;
  if (manifest) {
    // The manifest asked for, or nothing: another would give the image another digest.
    auto text = store.GetBlob(*manifest);
    if (!text) return Unexpected{text.error()};
    if (!ManifestMatches(*text, p)) {
      return Fail(EINVAL, "manifest " + manifest->String() + " of image " + id.String() +
                              " names layer blobs this store does not keep (its layers came "
                              "from other blobs): name the image by tag or ID instead");
    }
    candidates.push_back(*manifest);
  }
  const auto& received = p.image.repo_digests;
  for (auto it = received.rbegin(); it != received.rend(); ++it) {
    if (!repository.empty() && it->repository == repository) candidates.push_back(it->manifest);
  }
  candidates.push_back(p.image.manifest_digest);
  for (auto it = received.rbegin(); it != received.rend(); ++it) {
    candidates.push_back(it->manifest);
  }
  for (const Digest& candidate : candidates) {
    auto text = store.GetBlob(candidate);
    if (text && ManifestMatches(*text, p)) {
      p.manifest = *text;
      p.manifest_digest = candidate;
      break;
    }
  }
  if (p.manifest.empty()) {
    STRATA_ASSIGN_OR_RETURN(p.manifest,
                            ManifestOfStoredLayers(store, id, p.config, p.image.diff_ids));
    p.manifest_digest = Sha256Of(p.manifest);
  }
  const Json m = Json::parse(p.manifest, nullptr, false);
  p.manifest_media_type = m.is_object() ? m.value("mediaType", "") : "";
  if (p.manifest_media_type.empty()) {
    p.manifest_media_type = "application/vnd.oci.image.manifest.v1+json";
  }
  return p;
}

Status CopyKeptBlob(const PlannedLayer& layer, const BlobPut& put) {
  UniqueFd fd(::open(layer.blob_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return FailErrno(layer.blob_path);
  Sha256 hash;
  std::vector<char> buf(1 << 17);
  uint64_t total = 0;
  for (;;) {
    const ssize_t n = ::read(fd.Get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno("read " + layer.blob_path);
    if (n == 0) break;
    hash.Update(buf.data(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
    STRATA_RETURN_IF_ERROR(put(buf.data(), static_cast<size_t>(n)));
  }
  if (!(hash.Finish() == layer.record.blob_digest) || total != layer.record.blob_size) {
    return Fail(EIO, "the kept blob of layer " + layer.record.diff_id.String() +
                         " does not hash to " + layer.record.blob_digest.String() +
                         " (strata verify checks the store)");
  }
  return Ok();
}

}  // namespace strata::store
