#include "layerstore/import/oci_import.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <memory>

#include "fs/base/unique_fd.h"
#include "layerstore/import/docker_import.h"
#include "layerstore/import/image_files.h"
#include "layerstore/import/importer.h"
#include "layerstore/reference.h"

namespace strata::store {
namespace {

// An OCI image layout directory, or (flat) a containers/image "dir:" directory, which keeps
// blobs as DIR/<hex>, the manifest (or index) as manifest.json and, under an index, each
// instance's manifest as DIR/<hex>.manifest.json.
class Layout : public BlobSource {
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

  Result<UniqueFd> OpenBlob(const Descriptor& d) const override {
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

  std::string Where() const override { return dir_; }

 private:
  std::string dir_;
  UniqueFd root_;
  bool flat_ = false;
};

// A "dir:" image: manifest.json is the entry point, named by its own sha256.
Result<std::vector<ImportedImage>> ImportDirTransport(Importer& importer, const Layout& layout) {
  STRATA_ASSIGN_OR_RETURN(std::string text, layout.ReadFile("manifest.json", kMaxJsonBytes));
  STRATA_ASSIGN_OR_RETURN(Json manifest, ParseJson(text, "manifest.json"));
  Descriptor md;
  md.digest = Sha256Of(text);
  md.size = text.size();
  md.ref_name = "latest";
  if (manifest.contains("mediaType") && manifest["mediaType"].is_string())
    md.media_type = manifest["mediaType"];
  if (!IsIndexType(md.media_type)) {
    STRATA_ASSIGN_OR_RETURN(ImportedImage image, importer.ImportManifestText(layout, md, text));
    return std::vector<ImportedImage>{image};
  }
  // A multi-platform image (skopeo copy --all): walked like an OCI index.
  return importer.ImportIndex(layout, manifest, "manifest.json", "", "latest");
}

Result<std::vector<ImportedImage>> ImportLayout(Importer& importer, const Layout& layout,
                                                const std::string& ref) {
  STRATA_ASSIGN_OR_RETURN(std::string text, layout.ReadFile("index.json", kMaxJsonBytes));
  STRATA_ASSIGN_OR_RETURN(Json index, ParseJson(text, "index.json"));
  if (index.contains("mediaType") && index["mediaType"] != kOciIndex) {
    return Fail(EINVAL, "index.json: mediaType is not " + std::string(kOciIndex));
  }
  return importer.ImportIndex(layout, index, "index.json", ref, "");
}

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
      // PATH[:REF], where REF may hold colons (localhost/app:1.0) and so may PATH: the first
      // colon after which what comes before it exists.
      struct stat probe;
      if (::stat(path.c_str(), &probe) != 0) {
        for (size_t colon = path.find(':'); colon != std::string::npos;
             colon = path.find(':', colon + 1)) {
          if (::stat(path.substr(0, colon).c_str(), &probe) == 0) {
            ref = path.substr(colon + 1);
            path = path.substr(0, colon);
            break;
          }
        }
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
      return ImportDirTransport(importer, layout);
    }
    if (::access((path + "/oci-layout").c_str(), F_OK) != 0) {
      if (::access((path + "/manifest.json").c_str(), F_OK) == 0) {
        return ImportDockerArchive(store, path, options, ref);
      }
      return Fail(EINVAL, path + ": not an image (no oci-layout, manifest.json or version file)");
    }
    STRATA_ASSIGN_OR_RETURN(Layout layout, Layout::Open(path));
    return ImportLayout(importer, layout, ref);
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
    return ImportLayout(importer, layout, ref);
  }();
  (void)RemoveAll(work);
  return result;
}

}  // namespace strata::store
