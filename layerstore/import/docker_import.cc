#include "layerstore/import/docker_import.h"

#include <fcntl.h>

#include <nlohmann/json.hpp>

#include "fs/base/unique_fd.h"
#include "layerstore/import/image_commit.h"
#include "layerstore/import/image_files.h"
#include "layerstore/reference.h"

namespace strata::store {
namespace {

using Json = nlohmann::json;
constexpr size_t kMaxJsonBytes = 4 << 20;

Result<std::string> ReadJsonFile(int root, const std::string& rel) {
  STRATA_ASSIGN_OR_RETURN(UniqueFd fd, OpenBeneath(root, rel));
  return ReadCapped(fd.Get(), kMaxJsonBytes, rel);
}

// "<64 hex>.json" (or "blobs/sha256/<64 hex>"): the digest the file name claims, if any.
std::string ClaimedHex(const std::string& path) {
  std::string base = path.substr(path.rfind('/') + 1);
  if (base.ends_with(".json")) base.resize(base.size() - 5);
  if (base.size() != 64) return "";
  for (char c : base) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return "";
  }
  return base;
}

Result<ImportedImage> ImportOne(Store& store, int root, const Json& entry, size_t index,
                                const ImportOptions& options) {
  const std::string where = "manifest.json[" + std::to_string(index) + "]";
  if (!entry.is_object() || !entry.contains("Config") || !entry["Config"].is_string() ||
      !entry.contains("Layers") || !entry["Layers"].is_array()) {
    return Fail(EINVAL, where + ": needs Config and Layers");
  }
  const std::string config_path = entry["Config"];
  STRATA_ASSIGN_OR_RETURN(std::string config_text, ReadJsonFile(root, config_path));
  const Digest config_digest = Sha256Of(config_text);
  if (const std::string claimed = ClaimedHex(config_path);
      !claimed.empty() && claimed != config_digest.encoded) {
    return Fail(EINVAL,
                where + ": config '" + config_path + "' hashes to " + config_digest.String());
  }
  const Json& layers = entry["Layers"];
  STRATA_ASSIGN_OR_RETURN(std::vector<Digest> diffs,
                          ConfigDiffIds(config_text, layers.size(), config_path));
  ImportedImage result;
  for (size_t i = 0; i < layers.size(); ++i) {
    const std::string lwhere = where + " layer " + std::to_string(i);
    if (!layers[i].is_string()) return Fail(EINVAL, lwhere + ": not a path");
    const Digest& diff = diffs[i];
    const std::string path = layers[i];
    std::optional<Digest> claimed;
    if (const std::string hex = ClaimedHex(path); !hex.empty() && path.starts_with("blobs/")) {
      claimed = Digest{"sha256", hex};  // a blob named by its digest must hash to it
    }
    STRATA_ASSIGN_OR_RETURN(bool extracted, EnsureLayer(
                                                store, options, i, layers.size(), diff,
                                                [&] { return OpenBeneath(root, path); }, claimed,
                                                lwhere + " ('" + path + "')"));
    ++(extracted ? result.layers_extracted : result.layers_reused);
  }
  ImageDocuments docs;
  STRATA_ASSIGN_OR_RETURN(docs.manifest,
                          ManifestOfStoredLayers(store, config_digest, config_text, diffs));
  docs.manifest_digest = Sha256Of(docs.manifest);
  docs.config = config_text;
  docs.config_digest = config_digest;
  docs.diff_ids = diffs;
  if (!options.name.empty()) {
    docs.names.push_back(options.name);
  } else if (entry.contains("RepoTags") && entry["RepoTags"].is_array()) {
    for (const Json& tag : entry["RepoTags"]) {
      if (tag.is_string()) docs.names.push_back(tag);
    }
  }
  STRATA_ASSIGN_OR_RETURN(ImportedImage committed, CommitImage(store, docs));
  result.id = committed.id;
  result.names = committed.names;
  return result;
}

}  // namespace

Result<std::vector<ImportedImage>> ImportDockerArchive(Store& store, const std::string& dir,
                                                       const ImportOptions& options,
                                                       const std::string& ref) {
  UniqueFd root(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return FailErrno(dir);
  STRATA_ASSIGN_OR_RETURN(std::string text, ReadJsonFile(root.Get(), "manifest.json"));
  Json manifest = Json::parse(text, nullptr, false);
  if (manifest.is_discarded() || !manifest.is_array() || manifest.empty()) {
    return Fail(EINVAL, "manifest.json: not a non-empty array");
  }
  std::vector<size_t> chosen;
  if (ref.starts_with("@")) {
    const std::string n = ref.substr(1);
    if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(n) >= manifest.size()) {
      return Fail(EINVAL, "docker-archive: no image " + ref + " (it holds " +
                              std::to_string(manifest.size()) + ")");
    }
    chosen.push_back(std::stoul(n));
  } else if (!ref.empty()) {
    STRATA_ASSIGN_OR_RETURN(std::string wanted, NormalizeName(ref));
    for (size_t i = 0; i < manifest.size(); ++i) {
      for (const Json& tag : manifest[i].value("RepoTags", Json::array())) {
        auto normalized = tag.is_string() ? NormalizeName(tag.get<std::string>())
                                          : Result<std::string>(Fail(EINVAL));
        if (normalized && *normalized == wanted) chosen.push_back(i);
      }
    }
    if (chosen.empty()) return Fail(ENOENT, "docker-archive: no image tagged " + ref);
  } else {
    for (size_t i = 0; i < manifest.size(); ++i) chosen.push_back(i);
  }
  std::vector<ImportedImage> out;
  for (size_t i : chosen) {
    STRATA_ASSIGN_OR_RETURN(ImportedImage image,
                            ImportOne(store, root.Get(), manifest[i], i, options));
    out.push_back(std::move(image));
  }
  return out;
}

}  // namespace strata::store
