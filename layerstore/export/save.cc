#include "layerstore/export/save.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "layerstore/export/tar_out.h"
#include "layerstore/image_ops.h"
#include "layerstore/image_plan.h"
#include "layerstore/reference.h"
#include "layerstore/import/layer_stream.h"

namespace strata::store {
namespace {

using Json = nlohmann::json;
// Writes DATA of SIZE bytes to the file being filled (image_plan.h).
using Put = BlobPut;

// Where a saved layout goes: a directory or a tar stream.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual Status Dir(const std::string& path) = 0;
  virtual Status Finish() = 0;
  // A file of exactly SIZE bytes, written by FILL through the Put it is given (EIO if FILL
  // gives more or fewer).
  Status File(const std::string& path, uint64_t size,
              const std::function<Status(const Put&)>& fill) {
    uint64_t written = 0;
    STRATA_RETURN_IF_ERROR(Store(path, size, [&](const Put& put) {
      return fill([&](const void* data, size_t n) -> Status {
        written += n;
        if (written > size) return Fail(EIO, path + ": longer than " + std::to_string(size));
        return put(data, n);
      });
    }));
    if (written != size) {
      return Fail(EIO, path + ": wrote " + std::to_string(written) + " bytes, expected " +
                           std::to_string(size));
    }
    return Ok();
  }
  Status Bytes(const std::string& path, const std::string& data) {
    return File(path, data.size(), [&](const Put& put) { return put(data.data(), data.size()); });
  }

 protected:
  // Writes file PATH of SIZE bytes from what FILL puts (File checks the count).
  virtual Status Store(const std::string& path, uint64_t size,
                       const std::function<Status(const Put&)>& fill) = 0;
};

class DirSink : public Sink {
 public:
  explicit DirSink(UniqueFd root) : root_(std::move(root)) {}
  Status Dir(const std::string& path) override {
    if (::mkdirat(root_.Get(), path.c_str(), 0755) != 0) return FailErrno("mkdir " + path);
    return Ok();
  }
  Status Store(const std::string& path, uint64_t,
               const std::function<Status(const Put&)>& fill) override {
    UniqueFd fd(::openat(root_.Get(), path.c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd) return FailErrno("create " + path);
    return fill([&](const void* data, size_t n) -> Status {
      const char* p = static_cast<const char*>(data);
      while (n > 0) {
        const ssize_t w = ::write(fd.Get(), p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return FailErrno("write " + path);
        p += w;
        n -= static_cast<size_t>(w);
      }
      return Ok();
    });
  }
  Status Finish() override {
    if (::syncfs(root_.Get()) != 0) return FailErrno("sync");
    return Ok();
  }

 private:
  UniqueFd root_;
};

class TarSink : public Sink {
 public:
  static Result<std::unique_ptr<TarSink>> Open(int fd) {
    STRATA_ASSIGN_OR_RETURN(auto tar, TarOut::Open(fd, Compression::kNone));
    return std::unique_ptr<TarSink>(new TarSink(fd, std::move(tar)));
  }
  Status Dir(const std::string& path) override {
    TarEntry e;
    e.path = path + "/";
    e.st.st_mode = S_IFDIR | 0755;
    return tar_->Add(e);
  }
  Status Store(const std::string& path, uint64_t size,
               const std::function<Status(const Put&)>& fill) override {
    TarEntry e;
    e.path = path;
    e.st.st_mode = S_IFREG | 0644;
    e.st.st_size = static_cast<off_t>(size);
    STRATA_RETURN_IF_ERROR(tar_->Add(e));
    return fill([&](const void* data, size_t n) { return tar_->Write(data, n); });
  }
  Status Finish() override {
    STRATA_RETURN_IF_ERROR(tar_->Finish());
    struct stat st;
    if (::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode) && ::fsync(fd_) != 0) {
      return FailErrno("fsync");
    }
    return Ok();
  }

 private:
  TarSink(int fd, std::unique_ptr<TarOut> tar) : fd_(fd), tar_(std::move(tar)) {}
  int fd_;
  std::unique_ptr<TarOut> tar_;
};

// One image to write: what leaves the store, and the names REFs gave it, in order.
struct Planned : PlannedImage {
  std::vector<std::string> names;
};

// Streams LAYER uncompressed (its diffID's bytes) through PUT, checking both digests.
Status PutTar(const PlannedLayer& layer, const Put& put) {
  UniqueFd fd(::open(layer.blob_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return FailErrno(layer.blob_path);
  STRATA_ASSIGN_OR_RETURN(auto stream, LayerStream::Open(fd.Get()));
  std::vector<char> buf(1 << 17);
  for (;;) {
    STRATA_ASSIGN_OR_RETURN(size_t n, stream->Read(buf.data(), buf.size()));
    if (n == 0) break;
    STRATA_RETURN_IF_ERROR(put(buf.data(), n));
  }
  if (!(stream->DiffId() == layer.record.diff_id) ||
      !(stream->BlobDigest() == layer.record.blob_digest)) {
    return Fail(EIO, "the kept blob of layer " + layer.record.diff_id.String() +
                         " does not hash to its digests (strata verify checks the store)");
  }
  return Ok();
}

Status WriteOciLayout(const std::vector<Planned>& images, const std::vector<size_t>& order,
                      const std::vector<std::string>& ref_names, Sink& sink) {
  STRATA_RETURN_IF_ERROR(sink.Bytes("oci-layout", R"({"imageLayoutVersion":"1.0.0"})"));
  STRATA_RETURN_IF_ERROR(sink.Dir("blobs"));
  STRATA_RETURN_IF_ERROR(sink.Dir("blobs/sha256"));
  std::set<std::string> written;
  auto blob = [&](const Digest& d, uint64_t size,
                  const std::function<Status(const Put&)>& fill) -> Status {
    if (!written.insert(d.encoded).second) return Ok();
    return sink.File("blobs/sha256/" + d.encoded, size, fill);
  };
  for (const Planned& p : images) {
    for (const PlannedLayer& layer : p.layers) {
      STRATA_RETURN_IF_ERROR(blob(layer.record.blob_digest, layer.record.blob_size,
                                  [&](const Put& put) { return CopyKeptBlob(layer, put); }));
    }
    STRATA_RETURN_IF_ERROR(blob(p.image.id, p.config.size(), [&](const Put& put) {
      return put(p.config.data(), p.config.size());
    }));
    STRATA_RETURN_IF_ERROR(blob(p.manifest_digest, p.manifest.size(), [&](const Put& put) {
      return put(p.manifest.data(), p.manifest.size());
    }));
  }
  Json manifests = Json::array();
  for (size_t i = 0; i < order.size(); ++i) {
    const Planned& p = images[order[i]];
    Json d = {{"mediaType", p.manifest_media_type},
              {"digest", p.manifest_digest.String()},
              {"size", p.manifest.size()}};
    if (!p.image.os.empty() && !p.image.architecture.empty()) {
      d["platform"] = {{"os", p.image.os}, {"architecture", p.image.architecture}};
      if (!p.image.variant.empty()) d["platform"]["variant"] = p.image.variant;
    }
    if (!ref_names[i].empty()) {
      d["annotations"] = {{"org.opencontainers.image.ref.name", ref_names[i]}};
    }
    manifests.push_back(d);
  }
  const Json index = {{"schemaVersion", 2},
                      {"mediaType", "application/vnd.oci.image.index.v1+json"},
                      {"manifests", manifests}};
  STRATA_RETURN_IF_ERROR(sink.Bytes("index.json", index.dump()));
  return sink.Finish();
}

Status WriteDockerArchive(const std::vector<Planned>& images, Sink& sink) {
  std::set<std::string> written;
  Json manifest = Json::array();
  for (const Planned& p : images) {
    Json layers = Json::array();
    for (const PlannedLayer& layer : p.layers) {
      const std::string hex = layer.record.diff_id.encoded;
      layers.push_back(hex + "/layer.tar");
      if (!written.insert(hex).second) continue;
      STRATA_RETURN_IF_ERROR(sink.Dir(hex));
      STRATA_RETURN_IF_ERROR(sink.File(hex + "/layer.tar", layer.record.tar_size,
                                       [&](const Put& put) { return PutTar(layer, put); }));
    }
    const std::string config_file = p.image.id.encoded + ".json";
    if (written.insert(config_file).second) {
      STRATA_RETURN_IF_ERROR(sink.Bytes(config_file, p.config));
    }
    manifest.push_back({{"Config", config_file}, {"RepoTags", p.names}, {"Layers", layers}});
  }
  STRATA_RETURN_IF_ERROR(sink.Bytes("manifest.json", manifest.dump()));
  return sink.Finish();
}

std::string TempNextTo(const std::string& path) {
  return path + ".tmp-" + std::to_string(::getpid());
}

}  // namespace

Result<SaveFormat> ParseSaveFormat(const std::string& name) {
  if (name == "oci-archive") return SaveFormat::kOciArchive;
  if (name == "docker-archive") return SaveFormat::kDockerArchive;
  if (name == "oci-dir") return SaveFormat::kOciDir;
  return Fail(EINVAL, "format '" + name + "': expected oci-archive, docker-archive or oci-dir");
}

Result<std::vector<SavedImage>> SaveImages(const Store& store, const SaveOptions& options) {
  if (options.refs.empty()) return Fail(EINVAL, "no image to save");
  if (options.output.empty()) return Fail(EINVAL, "no output path");
  const bool to_stdout = options.output == "-";
  if (to_stdout && options.format == SaveFormat::kOciDir) {
    return Fail(EINVAL, "oci-dir cannot be written to stdout: give a directory");
  }
  // Resolve and read everything before writing anything.
  std::vector<Planned> images;
  std::map<std::string, size_t> by_id;
  std::vector<size_t> order;           // the image of each REF
  std::vector<std::string> ref_names;  // the name each REF matched ("" for an ID)
  for (const std::string& ref : options.refs) {
    STRATA_ASSIGN_OR_RETURN(Resolved r, ResolveImage(store, ref));
    auto [it, fresh] = by_id.try_emplace(r.id.encoded, images.size());
    if (fresh) {
      STRATA_ASSIGN_OR_RETURN(PlannedImage p, PlanImage(store, r.id, RepositoryOf(r.name),
                                                        r.manifest));
      images.push_back(Planned{std::move(p), {}});
    }
    Planned& p = images[it->second];
    if (!r.name.empty() &&
        std::find(p.names.begin(), p.names.end(), r.name) == p.names.end()) {
      p.names.push_back(r.name);
    }
    order.push_back(it->second);
    ref_names.push_back(r.name);
  }

  const std::string& out = options.output;
  const std::string tmp = TempNextTo(out);
  struct stat st;
  if (!to_stdout && ::stat(out.c_str(), &st) == 0) {
    if (options.format == SaveFormat::kOciDir) {
      if (!S_ISDIR(st.st_mode)) return Fail(EEXIST, out + " exists and is not a directory");
      UniqueFd dir(::open(out.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (dir) {
        struct stat probe;
        // Any entry makes it non-empty; the layout files are the usual ones.
        for (const char* name : {"index.json", "oci-layout", "blobs"}) {
          if (::fstatat(dir.Get(), name, &probe, AT_SYMLINK_NOFOLLOW) == 0) {
            return Fail(EEXIST, out + " exists and is not empty");
          }
        }
      }
    } else if (S_ISDIR(st.st_mode)) {
      return Fail(EISDIR, out + " is a directory (oci-dir writes a layout into one)");
    }
  }
  Status written = [&]() -> Status {
    if (options.format == SaveFormat::kOciDir) {
      if (::mkdir(tmp.c_str(), 0755) != 0) return FailErrno("mkdir " + tmp);
      UniqueFd root(::open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!root) return FailErrno(tmp);
      DirSink sink(std::move(root));
      return WriteOciLayout(images, order, ref_names, sink);
    }
    UniqueFd file;
    int fd = STDOUT_FILENO;
    if (!to_stdout) {
      file = UniqueFd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
      if (!file) return FailErrno("create " + tmp);
      fd = file.Get();
    }
    STRATA_ASSIGN_OR_RETURN(auto sink, TarSink::Open(fd));
    if (options.format == SaveFormat::kDockerArchive) return WriteDockerArchive(images, *sink);
    return WriteOciLayout(images, order, ref_names, *sink);
  }();
  if (written && !to_stdout) {
    if (options.format == SaveFormat::kOciDir && ::rmdir(out.c_str()) != 0 && errno != ENOENT) {
      written = errno == ENOTEMPTY || errno == EEXIST
                    ? Fail(EEXIST, out + " exists and is not empty")
                    : FailErrno("replace " + out);
    }
    if (written && ::rename(tmp.c_str(), out.c_str()) != 0) {
      written = FailErrno("rename " + tmp + " to " + out);
    }
  }
  if (!written) {
    if (!to_stdout) (void)RemoveAll(tmp);
    return Unexpected{written.error()};
  }
  std::vector<SavedImage> saved;
  for (const Planned& p : images) saved.push_back({p.image.id, p.manifest_digest, p.names});
  return saved;
}

}  // namespace strata::store
