// The import steps every image source shares (an OCI layout, a "dir:" directory, a registry):
// descriptors and their checks, walking an index to the manifests of the wanted platform, and
// importing a manifest (its config, its layers, the image record). Where the blobs come from
// is a BlobSource; everything read through one is verified (size, sha256) before it is used.
// Internal to layerstore/import.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fs/base/status.h"
#include "fs/base/unique_fd.h"
#include "layerstore/import/oci_import.h"
#include "layerstore/store.h"

namespace strata::store {

using Json = nlohmann::json;

inline constexpr size_t kMaxJsonBytes = 4 << 20;
inline constexpr int kMaxIndexDepth = 4;
inline constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* kDockerList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr const char* kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";

inline bool IsIndexType(const std::string& t) { return t == kOciIndex || t == kDockerList; }
inline bool IsManifestType(const std::string& t) {
  return t == kOciManifest || t == kDockerManifest;
}

struct Descriptor {
  std::string media_type;
  Digest digest;
  uint64_t size = 0;
  std::string ref_name;  // org.opencontainers.image.ref.name or io.containerd.image.name
  std::string platform;  // "os/arch[/variant]" or ""
};

// J as a descriptor (digest grammar, sha256 only, an unsigned size). WHERE names it in errors.
Result<Descriptor> ParseDescriptor(const Json& j, const std::string& where);
// Whether a descriptor's platform HAVE ("" for none) serves WANT ("linux/arm64" takes any
// variant of it, "linux/arm64/v8" only that one).
bool PlatformMatches(const std::string& have, const std::string& want);
// TEXT as a JSON object. Errors: EINVAL naming WHAT.
Result<Json> ParseJson(const std::string& text, const std::string& what);

class BlobSource {
 public:
  virtual ~BlobSource() = default;
  // The blob D names, at offset 0, after checking that its size is D's size (its sha256 is the
  // reader's to check: layers are verified while they are extracted).
  virtual Result<UniqueFd> OpenBlob(const Descriptor& d) const = 0;
  // What the source is, for errors ("DIR", "registry.example/app").
  virtual std::string Where() const = 0;
  // A JSON blob, verified (size, sha256) and size-capped.
  Result<std::string> ReadJsonBlob(const Descriptor& d) const;
  // The layer blobs about to be opened, in order: a source that fetches them may start now
  // (OpenBlob still returns each only once it verified). Default: nothing.
  virtual void Prefetch(const std::vector<Descriptor>& blobs) const { (void)blobs; }
};

class Importer {
 public:
  // Images get OPTIONS.name, else their ref name under DEFAULT_REPO.
  Importer(Store& store, const ImportOptions& options, std::string default_repo)
      : store_(store), options_(options), default_repo_(std::move(default_repo)) {
    want_platform_ = options.platform.empty() ? HostPlatform() : options.platform;
  }

  // The images of INDEX (WHERE names it) for the wanted platform (or all), those named REF
  // only if REF is given; nested indexes are followed. Errors: ENOENT if none matches.
  Result<std::vector<ImportedImage>> ImportIndex(const BlobSource& source, const Json& index,
                                                 const std::string& where, const std::string& ref,
                                                 const std::string& inherited_name);
  // The image of manifest MD, whose bytes are MANIFEST_TEXT.
  Result<ImportedImage> ImportManifestText(const BlobSource& source, const Descriptor& md,
                                           const std::string& manifest_text);

 private:
  Result<std::vector<ImportedImage>> ImportAll(const BlobSource& source,
                                               const std::vector<Descriptor>& manifests,
                                               const std::string& ref);
  Status Collect(const BlobSource& source, const Json& index, const std::string& where,
                 const std::string& ref, const std::string& inherited_name, int depth,
                 std::vector<Descriptor>* out);
  Result<ImportedImage> ImportManifest(const BlobSource& source, const Descriptor& md);

  Store& store_;
  const ImportOptions& options_;
  std::string default_repo_;
  std::string want_platform_;
};

}  // namespace strata::store
