#include "layerstore/registry/pull.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "layerstore/import/importer.h"

namespace strata::store {
namespace {

// A layer blob fetched into an unnamed file in the store's tmp/ (nothing is left behind,
// whatever happens), at offset 0 once verified.
Result<UniqueFd> FetchBlob(RegistryClient& client, const Store& store, const Descriptor& d,
                           const std::atomic<bool>* cancel) {
  const std::string tmp = store.root() + "/tmp";
  UniqueFd fd(::open(tmp.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd) return FailErrno("temporary file in " + tmp);
  STRATA_RETURN_IF_ERROR(client.Blob(d.digest, d.size, fd.Get(), cancel));
  if (::lseek(fd.Get(), 0, SEEK_SET) != 0) return FailErrno("seek blob");
  return fd;
}

// The blobs of one repository, fetched when the importer opens them; the layers it announces
// (Prefetch) are fetched ahead by up to kFetchers connections of their own, in order.
class RegistrySource : public BlobSource {
 public:
  static constexpr size_t kFetchers = 3;

  RegistrySource(RegistryClient* client, const Store& store) : client_(client), store_(store) {}
  ~RegistrySource() override {
    cancel_.store(true);  // an import that failed does not wait for the rest
    for (std::thread& t : fetchers_) t.join();
  }

  Result<UniqueFd> OpenBlob(const Descriptor& d) const override {
    if (IsIndexType(d.media_type) || IsManifestType(d.media_type)) {
      if (d.size > kMaxJsonBytes) {
        return Fail(EINVAL, "manifest " + d.digest.String() + ": too large");
      }
      STRATA_ASSIGN_OR_RETURN(FetchedManifest m, client_->Manifest(d.digest.String()));
      if (m.body.size() != d.size) {
        return Fail(EINVAL, "manifest " + d.digest.String() + " has " +
                                std::to_string(m.body.size()) + " bytes, its descriptor says " +
                                std::to_string(d.size));
      }
      UniqueFd fd(::memfd_create("manifest", MFD_CLOEXEC));
      if (!fd) return FailErrno("memfd_create");
      if (::write(fd.Get(), m.body.data(), m.body.size()) != static_cast<ssize_t>(m.body.size()))
        return FailErrno("write manifest");
      ::lseek(fd.Get(), 0, SEEK_SET);
      return fd;
    }
    std::unique_lock lock(mu_);
    auto it = fetched_.find(d.digest.String());
    if (it == fetched_.end()) {
      lock.unlock();
      return FetchBlob(*client_, store_, d, nullptr);
    }
    done_.wait(lock, [&] { return it->second.has_value(); });
    Result<UniqueFd> fd = std::move(*it->second);
    fetched_.erase(it);
    return fd;
  }

  void Prefetch(const std::vector<Descriptor>& blobs) const override {
    std::lock_guard lock(mu_);
    for (const Descriptor& d : blobs) {
      if (fetched_.count(d.digest.String()) != 0) continue;
      fetched_.emplace(d.digest.String(), std::nullopt);
      queue_.push_back(d);
    }
    while (active_ < kFetchers && active_ < queue_.size() - next_) {
      ++active_;
      // Its client is copied here, on the importer's thread, which alone uses client_.
      std::shared_ptr<Http> http = MakeHttp();
      auto client = std::make_shared<RegistryClient>(*http, *client_);
      fetchers_.emplace_back([this, http, client] { Fetch(*client); });
    }
  }

  std::string Where() const override { return client_->ref().Name(); }

 private:
  // One fetcher: CLIENT, over a connection of its own, taking announced blobs in order.
  void Fetch(RegistryClient& client) const {
    for (;;) {
      Descriptor d;
      {
        std::lock_guard lock(mu_);
        if (next_ >= queue_.size()) {
          --active_;  // a later Prefetch starts fetchers anew
          return;
        }
        d = queue_[next_++];
      }
      Result<UniqueFd> fd = cancel_.load() ? Result<UniqueFd>(Fail(ECANCELED))
                                           : FetchBlob(client, store_, d, &cancel_);
      std::lock_guard lock(mu_);
      fetched_[d.digest.String()] = std::move(fd);
      done_.notify_all();
    }
  }

  RegistryClient* client_;
  const Store& store_;
  mutable std::mutex mu_;
  mutable std::condition_variable done_;
  // Announced blobs by digest: nullopt until fetched (or failed). Guarded by mu_.
  mutable std::map<std::string, std::optional<Result<UniqueFd>>> fetched_;
  mutable std::vector<Descriptor> queue_;  // guarded by mu_
  mutable size_t next_ = 0;                // guarded by mu_
  mutable size_t active_ = 0;              // fetchers running; guarded by mu_
  mutable std::vector<std::thread> fetchers_;
  mutable std::atomic<bool> cancel_{false};
};

// Remembers that REPO holds the blobs of IMAGES' manifests (as pulled), for cross-repository
// mounts when pushing to the same registry. A cache: failures are ignored.
void RecordLocations(Store& store, const std::vector<ImportedImage>& images,
                     const std::string& repo) {
  for (const ImportedImage& imported : images) {
    auto image = store.GetImage(imported.id);
    if (!image) continue;
    auto text = store.GetBlob(image->manifest_digest);
    const Json m = text ? Json::parse(*text, nullptr, false) : Json();
    std::vector<Digest> blobs = {image->id};
    if (m.is_object() && m.contains("layers") && m["layers"].is_array()) {
      for (const Json& d : m["layers"]) {
        auto digest = d.is_object() ? ParseDigest(d.value("digest", "")) : Fail(EINVAL);
        if (digest) blobs.push_back(*digest);
      }
    }
    (void)store.AddBlobLocation(blobs, repo);
  }
}

}  // namespace

Result<std::vector<ImportedImage>> PullImage(Store& store, const std::string& reference,
                                             const PullOptions& options, Http* http) {
  STRATA_ASSIGN_OR_RETURN(RemoteRef ref, ParseRemoteRef(reference));
  std::unique_ptr<Http> owned = http ? nullptr : MakeHttp();
  RegistryClient client(http ? *http : *owned, ref, options.registry);
  STRATA_ASSIGN_OR_RETURN(FetchedManifest top, client.Manifest(ref.Reference()));
  const std::string where = ref.Name();
  STRATA_ASSIGN_OR_RETURN(Json doc, ParseJson(top.body, where));
  // Some registries serve every document as application/json: the body says what it is.
  std::string type = top.media_type;
  if (!IsIndexType(type) && !IsManifestType(type)) type = doc.value("mediaType", "");

  ImportOptions import = options.import;
  const std::string repo = ref.registry + "/" + ref.repository;
  if (import.name.empty() && !ref.tag.empty()) import.name = repo + ":" + ref.tag;
  Importer importer(store, import, repo);
  RegistrySource source(&client, store);
  std::vector<ImportedImage> images;
  if (IsIndexType(type)) {
    if (doc.contains("mediaType") && doc["mediaType"] != type) {
      return Fail(EINVAL, where + ": mediaType disagrees with the registry's Content-Type");
    }
    STRATA_ASSIGN_OR_RETURN(images, importer.ImportIndex(source, doc, where, "", ref.tag));
  } else {
    Descriptor md;
    md.media_type = type;
    md.digest = top.digest;
    md.size = top.body.size();
    md.ref_name = ref.tag;
    STRATA_ASSIGN_OR_RETURN(ImportedImage image,
                            importer.ImportManifestText(source, md, top.body));
    images.push_back(image);
  }
  RecordLocations(store, images, repo);
  return images;
}

}  // namespace strata::store
