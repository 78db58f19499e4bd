#include "layerstore/registry/push.h"

#include <fcntl.h>
#include <unistd.h>

#include <sys/mman.h>

#include <algorithm>
#include <chrono>

#include "layerstore/image_ops.h"
#include "layerstore/image_plan.h"
#include "layerstore/reference.h"
#include "layerstore/registry/remote_ref.h"

namespace strata::store {
namespace {

// A repository of DEST's registry, other than DEST's, known to hold BLOB: one it was pulled
// from or pushed to (Store::BlobLocations), else one where a store name points at an image
// that USES it; "" if none.
std::string MountSource(const Store& store, const RemoteRef& dest, const Digest& blob,
                        const std::vector<std::pair<std::string, Digest>>& names,
                        const std::function<bool(const ImageRecord&)>& uses) {
  const std::string prefix = dest.registry + "/";
  for (const std::string& where : store.BlobLocations(blob)) {
    if (where.starts_with(prefix) && where.substr(prefix.size()) != dest.repository) {
      return where.substr(prefix.size());
    }
  }
  for (const auto& [name, id] : names) {
    auto ref = ParseRemoteRef(name);
    if (!ref || ref->registry != dest.registry || ref->repository == dest.repository) continue;
    auto image = store.GetImage(id);
    if (image && uses(*image)) return ref->repository;
  }
  return "";
}

// A memfd holding DATA: the body of a small blob (the config) sent like a layer.
Result<UniqueFd> MemFile(const std::string& data) {
  UniqueFd fd(::memfd_create("strata-blob", MFD_CLOEXEC));
  if (!fd) return FailErrno("memfd_create");
  if (::write(fd.Get(), data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
    return FailErrno("write memfd");
  }
  return fd;
}

}  // namespace

Result<PushedImage> PushImage(Store& store, const std::string& ref,
                              const std::string& destination, const PushOptions& options,
                              Http* http) {
  STRATA_ASSIGN_OR_RETURN(Resolved local, ResolveImage(store, ref));
  const std::string dest_text = destination.empty() ? local.name : destination;
  if (dest_text.empty()) {
    return Fail(EINVAL, ref + " has no name to push to: give a destination "
                              "(strata push " + ref + " registry.example/repo:tag)");
  }
  STRATA_ASSIGN_OR_RETURN(RemoteRef dest, ParseRemoteRef(dest_text));
  // The manifest received under the local name's repository: a pulled image keeps its digest.
  STRATA_ASSIGN_OR_RETURN(PlannedImage plan, PlanImage(store, local.id, RepositoryOf(local.name),
                                                       local.manifest));
  STRATA_ASSIGN_OR_RETURN(auto names, store.ListNames());

  std::unique_ptr<Http> own;
  if (http == nullptr) {
    own = MakeHttp();
    http = own.get();
  }
  RegistryOptions registry = options.registry;
  registry.push = true;
  RegistryClient client(*http, dest, registry);

  PushedImage pushed;
  const size_t count = plan.layers.size() + 1;
  // The registry hashes what it receives and refuses a blob that does not match its digest
  // (a corrupt store fails here with DIGEST_INVALID).
  auto push_one = [&](size_t index, const Digest& digest, uint64_t size, int fd,
                      const std::string& mount_from) -> Status {
    BlobProgress p;
    p.index = index;
    p.count = count;
    p.digest = digest;
    p.size = size;
    if (options.on_blob) options.on_blob(p);
    STRATA_ASSIGN_OR_RETURN(bool exists, client.HasBlob(digest));
    if (exists) {
      p.outcome = BlobProgress::Outcome::kExists;
      ++pushed.existed;
    } else {
      const auto start = std::chrono::steady_clock::now();
      STRATA_ASSIGN_OR_RETURN(bool mounted, client.PushBlob(digest, fd, size, mount_from));
      p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      p.outcome = mounted ? BlobProgress::Outcome::kMounted : BlobProgress::Outcome::kUploaded;
      if (mounted) p.mounted_from = mount_from;
      ++(mounted ? pushed.mounted : pushed.uploaded);
    }
    if (options.on_blob) options.on_blob(p);
    return Ok();
  };
  for (size_t i = 0; i < plan.layers.size(); ++i) {
    const PlannedLayer& layer = plan.layers[i];
    UniqueFd fd(::open(layer.blob_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return FailErrno(layer.blob_path);
    const std::string from = MountSource(store, dest, layer.record.blob_digest, names,
                                         [&](const ImageRecord& image) {
      return std::find(image.diff_ids.begin(), image.diff_ids.end(), layer.record.diff_id) !=
             image.diff_ids.end();
    });
    STRATA_RETURN_IF_ERROR(
        push_one(i, layer.record.blob_digest, layer.record.blob_size, fd.Get(), from));
  }
  STRATA_ASSIGN_OR_RETURN(UniqueFd config, MemFile(plan.config));
  const std::string config_from =
      MountSource(store, dest, plan.image.id, names,
                  [&](const ImageRecord& image) { return image.id == plan.image.id; });
  STRATA_RETURN_IF_ERROR(push_one(plan.layers.size(), plan.image.id, plan.config.size(),
                                  config.Get(), config_from));
  STRATA_RETURN_IF_ERROR(client.PutManifest(dest.Reference(), plan.manifest,
                                            plan.manifest_media_type, plan.manifest_digest));
  std::vector<Digest> sent = {plan.image.id};
  for (const PlannedLayer& layer : plan.layers) sent.push_back(layer.record.blob_digest);
  (void)store.AddBlobLocation(sent, dest.registry + "/" + dest.repository);  // a cache
  pushed.destination = dest.Name();
  pushed.manifest_digest = plan.manifest_digest;
  return pushed;
}

}  // namespace strata::store
