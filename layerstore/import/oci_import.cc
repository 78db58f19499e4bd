#include "layerstore/import/oci_import.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "fs/base/unique_fd.h"
#include "layerstore/import/docker_import.h"
#include "layerstore/import/image_commit.h"
#include "layerstore/import/image_files.h"
#include "layerstore/reference.h"

namespace strata::store {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxJsonBytes = 4 << 20;
constexpr int kMaxIndexDepth = 4;
constexpr const char* kOciIndex = "application/vnd.oci.image.index.v1+json";
constexpr const char* kOciManifest = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* kDockerList = "application/vnd.docker.distribution.manifest.list.v2+json";
constexpr const char* kDockerManifest = "application/vnd.docker.distribution.manifest.v2+json";

bool IsIndexType(const std::string& t) { return t == kOciIndex || t == kDockerList; }
bool IsManifestType(const std::string& t) { return t == kOciManifest || t == kDockerManifest; }

struct Descriptor {
  std::string media_type;
  Digest digest;
  uint64_t size = 0;
  std::string ref_name;  // org.opencontainers.image.ref.name or io.containerd.image.name
  std::string platform;  // "os/arch[/variant]" or ""
};

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

// An OCI image layout directory, or (flat) a containers/image "dir:" directory, which keeps
// blobs as DIR/<hex>, the manifest (or index) as manifest.json and, under an index, each
// instance's manifest as DIR/<hex>.manifest.json.
class Layout {
 public:
  static Result<Layout> OpenDirTransport(const std::string& dir) {
    Layout l;
    l.dir_ = dir;
    l.flat_ = true;
    l.root_.Reset(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!l.root_) return FailErrno("open " + dir);
    STRATA_ASSIGN_OR_RETURN(std::string version, l.ReadFile("version", 4096));
    if (!version.starts_with("Directory Transport Version: 1.")) {
      return Fail(EINVAL, dir + "/version: not a containers/image dir: image");
    }
    return l;
  }

  static Result<Layout> Open(const std::string& dir) {
    Layout l;
    l.dir_ = dir;
    l.root_.Reset(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!l.root_) return FailErrno("open " + dir);
    STRATA_ASSIGN_OR_RETURN(std::string marker, l.ReadFile("oci-layout", 4096));
    Json j = Json::parse(marker, nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.value("imageLayoutVersion", "") != "1.0.0") {
      return Fail(EINVAL, dir + "/oci-layout: not an OCI image layout 1.0.0");
    }
    return l;
  }

  Result<std::string> ReadFile(const std::string& name, size_t cap) const {
    UniqueFd fd(::openat(root_.Get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return FailErrno(dir_ + "/" + name);
    return ReadCapped(fd.Get(), cap, dir_ + "/" + name);
  }

  // The blob D names, opened after checking that its size is D's size.
  Result<UniqueFd> OpenBlob(const Descriptor& d) const {
    const std::string path =
        flat_ ? d.digest.encoded : "blobs/" + d.digest.algorithm + "/" + d.digest.encoded;
    UniqueFd dir(
        flat_ ? ::fcntl(root_.Get(), F_DUPFD_CLOEXEC, 0)
              : ::openat(root_.Get(), "blobs", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) return FailErrno(dir_ + "/blobs");
    if (!flat_) {
      dir.Reset(::openat(dir.Get(), d.digest.algorithm.c_str(),
                         O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!dir) return FailErrno(dir_ + "/blobs/" + d.digest.algorithm);
    }
    UniqueFd fd(::openat(dir.Get(), d.digest.encoded.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd && errno == ENOENT && flat_) {
      const std::string manifest = d.digest.encoded + ".manifest.json";
      fd.Reset(::openat(dir.Get(), manifest.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    }
    if (!fd) return FailErrno("blob " + d.digest.String());
    struct stat st;
    if (::fstat(fd.Get(), &st) != 0) return FailErrno(path);
    if (!S_ISREG(st.st_mode)) return Fail(EINVAL, "blob " + d.digest.String() + " is not a file");
    if (static_cast<uint64_t>(st.st_size) != d.size) {
      return Fail(EINVAL, "blob " + d.digest.String() + " has " + std::to_string(st.st_size) +
                              " bytes, its descriptor says " + std::to_string(d.size));
    }
    return fd;
  }

  // A JSON blob, verified (size, sha256) and size-capped.
  Result<std::string> ReadJsonBlob(const Descriptor& d) const {
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

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  UniqueFd root_;
  bool flat_ = false;
};

Result<Json> ParseJson(const std::string& text, const std::string& what) {
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Fail(EINVAL, what + ": not a JSON object");
  return j;
}

class Importer {
 public:
  Importer(Store& store, const ImportOptions& options, std::string default_repo)
      : store_(store), options_(options), default_repo_(std::move(default_repo)) {
    want_platform_ = options.platform.empty() ? HostPlatform() : options.platform;
  }

  // A "dir:" image: manifest.json is the entry point, named by its own sha256.
  Result<std::vector<ImportedImage>> RunDirTransport(const Layout& layout) {
    STRATA_ASSIGN_OR_RETURN(std::string text, layout.ReadFile("manifest.json", kMaxJsonBytes));
    STRATA_ASSIGN_OR_RETURN(Json manifest, ParseJson(text, "manifest.json"));
    Descriptor md;
    md.digest = Sha256Of(text);
    md.size = text.size();
    md.ref_name = "latest";
    if (manifest.contains("mediaType") && manifest["mediaType"].is_string())
      md.media_type = manifest["mediaType"];
    if (!IsIndexType(md.media_type)) {
      STRATA_ASSIGN_OR_RETURN(ImportedImage image, ImportManifestText(layout, md, text));
      return std::vector<ImportedImage>{image};
    }
    // A multi-platform image (skopeo copy --all): walked like an OCI index.
    std::vector<Descriptor> manifests;
    STRATA_RETURN_IF_ERROR(Collect(layout, manifest, "manifest.json", "", "latest", 0, &manifests));
    return ImportAll(layout, manifests, "");
  }

  Result<std::vector<ImportedImage>> Run(const Layout& layout, const std::string& ref) {
    STRATA_ASSIGN_OR_RETURN(std::string text, layout.ReadFile("index.json", kMaxJsonBytes));
    STRATA_ASSIGN_OR_RETURN(Json index, ParseJson(text, "index.json"));
    if (index.contains("mediaType") && index["mediaType"] != kOciIndex) {
      return Fail(EINVAL, "index.json: mediaType is not " + std::string(kOciIndex));
    }
    std::vector<Descriptor> manifests;
    STRATA_RETURN_IF_ERROR(Collect(layout, index, "index.json", ref, "", 0, &manifests));
    return ImportAll(layout, manifests, ref);
  }

 private:
  Result<std::vector<ImportedImage>> ImportAll(const Layout& layout,
                                               const std::vector<Descriptor>& manifests,
                                               const std::string& ref) {
    if (manifests.empty()) {
      return Fail(ENOENT, layout.dir() + ": no image" +
                              (ref.empty() ? "" : " named '" + ref + "'") + " for platform " +
                              want_platform_);
    }
    std::vector<ImportedImage> out;
    for (const Descriptor& m : manifests) {
      STRATA_ASSIGN_OR_RETURN(ImportedImage image, ImportManifest(layout, m));
      out.push_back(std::move(image));
    }
    return out;
  }

  // Walks an index (nested indexes too) and collects the manifests to import.
  Status Collect(const Layout& layout, const Json& index, const std::string& where,
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
        STRATA_ASSIGN_OR_RETURN(std::string text, layout.ReadJsonBlob(d));
        STRATA_ASSIGN_OR_RETURN(Json nested, ParseJson(text, here));
        if (nested.contains("mediaType") && nested["mediaType"] != d.media_type) {
          return Fail(EINVAL, here + ": mediaType disagrees with its descriptor");
        }
        STRATA_RETURN_IF_ERROR(Collect(layout, nested, here, ref, d.ref_name, depth + 1, out));
      } else if (IsManifestType(d.media_type) || d.media_type.empty()) {
        if (options_.all_platforms || PlatformMatches(d.platform, want_platform_))
          out->push_back(d);
      }  // other artifact types (signatures, attestations) are not images: skipped
    }
    return Ok();
  }

  Result<ImportedImage> ImportManifest(const Layout& layout, const Descriptor& md) {
    STRATA_ASSIGN_OR_RETURN(std::string manifest_text, layout.ReadJsonBlob(md));
    return ImportManifestText(layout, md, manifest_text);
  }

  Result<ImportedImage> ImportManifestText(const Layout& layout, const Descriptor& md,
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
    STRATA_ASSIGN_OR_RETURN(std::string config_text, layout.ReadJsonBlob(cd));
    if (!manifest.contains("layers") || !manifest["layers"].is_array())
      return Fail(EINVAL, what + ": no layers");
    const Json& layers = manifest["layers"];
    STRATA_ASSIGN_OR_RETURN(
        std::vector<Digest> diff_ids,
        ConfigDiffIds(config_text, layers.size(), "config " + cd.digest.String()));
    ImportedImage result;
    for (size_t i = 0; i < layers.size(); ++i) {
      const std::string where = what + " layers[" + std::to_string(i) + "]";
      STRATA_ASSIGN_OR_RETURN(Descriptor ld, ParseDescriptor(layers[i], where));
      STRATA_ASSIGN_OR_RETURN(bool extracted,
                              EnsureLayer(
                                  store_, options_, i, layers.size(), diff_ids[i],
                                  [&] { return layout.OpenBlob(ld); }, ld.digest, where));
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

  Store& store_;
  const ImportOptions& options_;
  std::string default_repo_;
  std::string want_platform_;
};

std::string BaseNameWithoutExtension(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  std::string base = path.substr(path.rfind('/') + 1);
  for (const char* ext : {".tar.gz", ".tar.zst", ".tgz", ".tar", ".oci"}) {
    if (base.ends_with(ext)) base.resize(base.size() - std::string(ext).size());
  }
  std::string clean;
  for (char c : base)
    clean += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'
                 ? static_cast<char>(std::tolower(c))
                 : '-';
  return clean.empty() ? "image" : clean;
}

}  // namespace

std::string HostPlatform() {
  struct utsname u;
  std::string arch = ::uname(&u) == 0 ? u.machine : "x86_64";
  if (arch == "x86_64") arch = "amd64";
  if (arch == "aarch64") arch = "arm64";
  if (arch == "i686" || arch == "i386") arch = "386";
  return "linux/" + arch;
}

Result<std::vector<ImportedImage>> ImportImage(Store& store, const std::string& source,
                                               const ImportOptions& options) {
  std::string path = source, ref, transport;
  for (const char* prefix : {"oci-archive:", "oci:", "docker-archive:", "dir:"}) {
    if (source.starts_with(prefix)) {
      transport = std::string(prefix, std::string(prefix).size() - 1);
      path = source.substr(std::string(prefix).size());
      const size_t colon = path.rfind(':');
      if (colon != std::string::npos && path.find('/', colon) == std::string::npos) {
        ref = path.substr(colon + 1);
        path = path.substr(0, colon);
      }
    }
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return FailErrno(path);
  const std::string repo = "localhost/" + BaseNameWithoutExtension(path);
  Importer importer(store, options, repo);
  if (S_ISDIR(st.st_mode)) {
    if (transport == "dir" || (::access((path + "/oci-layout").c_str(), F_OK) != 0 &&
                               ::access((path + "/version").c_str(), F_OK) == 0)) {
      STRATA_ASSIGN_OR_RETURN(Layout layout, Layout::OpenDirTransport(path));
      return importer.RunDirTransport(layout);
    }
    if (::access((path + "/oci-layout").c_str(), F_OK) != 0) {
      if (::access((path + "/manifest.json").c_str(), F_OK) == 0) {
        return ImportDockerArchive(store, path, options, ref);
      }
      return Fail(EINVAL, path + ": not an image (no oci-layout, manifest.json or version file)");
    }
    STRATA_ASSIGN_OR_RETURN(Layout layout, Layout::Open(path));
    return importer.Run(layout, ref);
  }
  // An archive: unpack the layout's files next to the store's other work.
  STRATA_ASSIGN_OR_RETURN(std::string work, store.MakeWorkDir());
  auto result = [&]() -> Result<std::vector<ImportedImage>> {
    STRATA_RETURN_IF_ERROR(UnpackArchive(path, work + "/diff"));
    // Docker 25+ and containerd exports carry both: the OCI layout is the richer description.
    if (::access((work + "/diff/oci-layout").c_str(), F_OK) != 0) {
      if (::access((work + "/diff/manifest.json").c_str(), F_OK) == 0) {
        return ImportDockerArchive(store, work + "/diff", options, ref);
      }
      return Fail(EINVAL, path + ": neither an oci-archive nor a docker-archive");
    }
    STRATA_ASSIGN_OR_RETURN(Layout layout, Layout::Open(work + "/diff"));
    return importer.Run(layout, ref);
  }();
  (void)RemoveAll(work);
  return result;
}

}  // namespace strata::store
