#include "layerstore/import/importer.h"

#include <algorithm>

#include "layerstore/import/image_commit.h"
#include "layerstore/import/image_files.h"

namespace strata::store {
namespace {

std::string LayerWhere(const std::string& manifest, size_t i) {
  return manifest + " layers[" + std::to_string(i) + "]";
}

}  // namespace

Result<Descriptor> ParseDescriptor(const Json& j, const std::string& where) {
  if (!j.is_object()) return Fail(EINVAL, where + ": descriptor is not an object");
  Descriptor d;
  if (!j.contains("digest") || !j["digest"].is_string()) return Fail(EINVAL, where + ": no digest");
  auto digest = ParseDigest(j["digest"].get<std::string>());
  if (!digest) return Fail(EINVAL, where + ": " + digest.error().context);
  if (digest->algorithm != "sha256")
    return Fail(ENOTSUP, where + ": only sha256 blobs are supported");
  d.digest = *digest;
  if (!j.contains("size") || !j["size"].is_number_unsigned()) {
    return Fail(EINVAL, where + ": no valid size");
  }
  d.size = j["size"].get<uint64_t>();
  if (j.contains("mediaType") && j["mediaType"].is_string()) d.media_type = j["mediaType"];
  if (j.contains("annotations") && j["annotations"].is_object()) {
    const Json& a = j["annotations"];
    for (const char* key : {"io.containerd.image.name", "org.opencontainers.image.ref.name"}) {
      if (d.ref_name.empty() && a.contains(key) && a[key].is_string()) d.ref_name = a[key];
    }
  }
  if (j.contains("platform") && j["platform"].is_object()) {
    const Json& p = j["platform"];
    d.platform = p.value("os", "") + "/" + p.value("architecture", "");
    if (p.contains("variant") && p["variant"].is_string())
      d.platform += "/" + p["variant"].get<std::string>();
  }
  return d;
}


bool PlatformMatches(const std::string& have, const std::string& want) {
  if (have.empty()) return true;  // a lone manifest says nothing: take it
  if (have == want) return true;
  // "linux/arm64" wants any variant of it; "linux/arm64/v8" only that one.
  return std::count(want.begin(), want.end(), '/') == 1 && have.starts_with(want + "/");
}


Result<Json> ParseJson(const std::string& text, const std::string& what) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Fail(EINVAL, what + ": not a JSON object");
  return j;
}


// A JSON blob, verified (size, sha256) and size-capped.
Result<std::string> BlobSource::ReadJsonBlob(const Descriptor& d) const {
  if (d.size > kMaxJsonBytes) {
    return Fail(EINVAL, "blob " + d.digest.String() + ": " + std::to_string(d.size) +
                            " bytes is too large for a JSON document");
  }
  STRATA_ASSIGN_OR_RETURN(UniqueFd fd, OpenBlob(d));
  STRATA_ASSIGN_OR_RETURN(std::string data,
                          ReadCapped(fd.Get(), kMaxJsonBytes, d.digest.String()));
  if (!(Sha256Of(data) == d.digest))
    return Fail(EINVAL, "blob " + d.digest.String() + ": sha256 mismatch");
  return data;
}


Result<std::vector<ImportedImage>> Importer::ImportAll(const BlobSource& source,
                                             const std::vector<Descriptor>& manifests,
                                             const std::string& ref) {
  if (manifests.empty()) {
    return Fail(ENOENT, source.Where() + ": no image" +
                            (ref.empty() ? "" : " named '" + ref + "'") + " for platform " +
                            want_platform_);
  }
  std::vector<ImportedImage> out;
  for (const Descriptor& m : manifests) {
    STRATA_ASSIGN_OR_RETURN(ImportedImage image, ImportManifest(source, m));
    out.push_back(std::move(image));
  }
  return out;
}


// Walks an index (nested indexes too) and collects the manifests to import.
Status Importer::Collect(const BlobSource& source, const Json& index, const std::string& where,
               const std::string& ref, const std::string& inherited_name, int depth,
               std::vector<Descriptor>* out) {
  if (depth > kMaxIndexDepth) return Fail(EINVAL, where + ": indexes nested too deeply");
  if (!index.contains("manifests") || !index["manifests"].is_array()) {
    return Fail(EINVAL, where + ": no manifests array");
  }
  size_t i = 0;
  for (const Json& entry : index["manifests"]) {
    const std::string here = where + " manifests[" + std::to_string(i++) + "]";
    STRATA_ASSIGN_OR_RETURN(Descriptor d, ParseDescriptor(entry, here));
    if (d.ref_name.empty()) d.ref_name = inherited_name;
    if (depth == 0 && !ref.empty() && d.ref_name != ref) continue;
    if (IsIndexType(d.media_type)) {
      STRATA_ASSIGN_OR_RETURN(std::string text, source.ReadJsonBlob(d));
      STRATA_ASSIGN_OR_RETURN(Json nested, ParseJson(text, here));
      if (nested.contains("mediaType") && nested["mediaType"] != d.media_type) {
        return Fail(EINVAL, here + ": mediaType disagrees with its descriptor");
      }
      STRATA_RETURN_IF_ERROR(Collect(source, nested, here, ref, d.ref_name, depth + 1, out));
    } else if (IsManifestType(d.media_type) || d.media_type.empty()) {
      if (options_.all_platforms || PlatformMatches(d.platform, want_platform_))
        out->push_back(d);
    }  // other artifact types (signatures, attestations) are not images: skipped
  }
  return Ok();
}


Result<ImportedImage> Importer::ImportManifest(const BlobSource& source, const Descriptor& md) {
  STRATA_ASSIGN_OR_RETURN(std::string manifest_text, source.ReadJsonBlob(md));
  return ImportManifestText(source, md, manifest_text);
}


Result<ImportedImage> Importer::ImportManifestText(const BlobSource& source, const Descriptor& md,
                                         const std::string& manifest_text) {
  const std::string what = "manifest " + md.digest.String();
  STRATA_ASSIGN_OR_RETURN(Json manifest, ParseJson(manifest_text, what));
  const std::string type = manifest.value("mediaType", md.media_type);
  if (!md.media_type.empty() && type != md.media_type) {
    return Fail(EINVAL, what + ": mediaType '" + type + "' disagrees with its descriptor's '" +
                            md.media_type + "'");
  }
  if (!type.empty() && !IsManifestType(type))
    return Fail(EINVAL, what + ": not an image manifest");
  if (manifest.value("schemaVersion", 0) != 2)
    return Fail(EINVAL, what + ": schemaVersion is not 2");
  if (!manifest.contains("config")) return Fail(EINVAL, what + ": no config");
  STRATA_ASSIGN_OR_RETURN(Descriptor cd, ParseDescriptor(manifest["config"], what + " config"));
  STRATA_ASSIGN_OR_RETURN(std::string config_text, source.ReadJsonBlob(cd));
  if (!manifest.contains("layers") || !manifest["layers"].is_array())
    return Fail(EINVAL, what + ": no layers");
  const Json& layers = manifest["layers"];
  STRATA_ASSIGN_OR_RETURN(
      std::vector<Digest> diff_ids,
      ConfigDiffIds(config_text, layers.size(), "config " + cd.digest.String()));
  std::vector<Descriptor> descriptors;
  for (size_t i = 0; i < layers.size(); ++i) {
    STRATA_ASSIGN_OR_RETURN(Descriptor ld, ParseDescriptor(layers[i], LayerWhere(what, i)));
    descriptors.push_back(std::move(ld));
  }
  // Sources that fetch blobs may start on the layers the store lacks while the first extract.
  std::vector<Descriptor> wanted;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (!store_.HasLayer(diff_ids[i])) wanted.push_back(descriptors[i]);
  }
  if (!wanted.empty()) source.Prefetch(wanted);
  ImportedImage result;
  for (size_t i = 0; i < layers.size(); ++i) {
    const Descriptor& ld = descriptors[i];
    STRATA_ASSIGN_OR_RETURN(bool extracted,
                            EnsureLayer(
                                store_, options_, i, layers.size(), diff_ids[i],
                                [&] { return source.OpenBlob(ld); }, ld.digest,
                                LayerWhere(what, i)));
    ++(extracted ? result.layers_extracted : result.layers_reused);
  }
  ImageDocuments docs{md.digest, manifest_text, cd.digest, config_text, diff_ids, {}};
  if (!options_.name.empty()) {
    docs.names.push_back(options_.name);
  } else if (!md.ref_name.empty()) {
    const bool full =
        md.ref_name.find('/') != std::string::npos || md.ref_name.find(':') != std::string::npos;
    docs.names.push_back(full ? md.ref_name : default_repo_ + ":" + md.ref_name);
  }
  // With --all-platforms only the wanted platform (the host's by default) takes the name;
  // each other platform gets it with "-os-arch[-variant]" added to the tag.
  if (options_.all_platforms && !md.platform.empty() &&
      !PlatformMatches(md.platform, want_platform_)) {
    for (std::string& name : docs.names) {
      std::string suffix = md.platform;
      for (char& c : suffix) c = c == '/' ? '-' : c;
      const size_t slash = name.rfind('/');
      const bool tagged =
          name.find(':', slash == std::string::npos ? 0 : slash) != std::string::npos;
      name += (tagged ? "-" : ":") + suffix;
    }
  }
  STRATA_ASSIGN_OR_RETURN(ImportedImage committed, CommitImage(store_, docs));
  result.id = committed.id;
  result.names = committed.names;
  return result;
}

Result<std::vector<ImportedImage>> Importer::ImportIndex(const BlobSource& source,
                                                        const Json& index,
                                                        const std::string& where,
                                                        const std::string& ref,
                                                        const std::string& inherited_name) {
  std::vector<Descriptor> manifests;
  STRATA_RETURN_IF_ERROR(Collect(source, index, where, ref, inherited_name, 0, &manifests));
  return ImportAll(source, manifests, ref);
}

}  // namespace strata::store
