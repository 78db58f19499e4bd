#include "layerstore/export/commit.h"

#include <fcntl.h>
#include <unistd.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "fs/core/override_stat.h"
#include "layerstore/export/container_diff.h"
#include "layerstore/import/image_commit.h"
#include "layerstore/reference.h"

namespace strata::store {
namespace {

using Json = nlohmann::json;

// RFC 3339 in UTC with nanoseconds, as the OCI config's `created`.
std::string Now() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  ::gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%09ldZ", ts.tv_nsec);
  return buf;
}

Result<ContainerRecord> FindContainer(const Store& store, const std::string& name) {
  STRATA_ASSIGN_OR_RETURN(auto containers, store.ListContainers());
  for (ContainerRecord& c : containers) {
    if (c.name == name) return std::move(c);
  }
  return Fail(ENOENT, "no container '" + name + "' (strata containers lists them)");
}

}  // namespace

Result<CommittedImage> CommitContainer(Store& store, const CommitOptions& options) {
  if (!options.name.empty()) STRATA_RETURN_IF_ERROR(NormalizeName(options.name));
  STRATA_ASSIGN_OR_RETURN(ContainerRecord container, FindContainer(store, options.container));
  STRATA_ASSIGN_OR_RETURN(ImageRecord base, store.GetImage(container.image));
  STRATA_ASSIGN_OR_RETURN(std::string base_config, store.GetBlob(base.id));

  ContainerLayers layers;
  for (size_t i = base.diff_ids.size(); i-- > 0;) {
    layers.lowerdirs.push_back(store.LayerDir(base.diff_ids[i]));
  }
  layers.upperdir = container.upper;
  layers.workdir = container.work;
  // As `strata mount` mounts containers without root (xattr_permissions=2).
  if (::geteuid() != 0) layers.override_xattr = core::kContainersOverrideXattr;

  const std::string tmp = store.root() + "/tmp";
  UniqueFd blob(::open(tmp.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!blob) return FailErrno("temporary file in " + tmp);
  STRATA_ASSIGN_OR_RETURN(auto tar, TarOut::Open(blob.Get(), options.compression));
  auto diff = WriteContainerDiff(layers, *tar);
  if (!diff) {
    if (diff.error().code == EBUSY) {
      return Fail(EBUSY, "container '" + options.container +
                             "' is mounted: unmount it to commit (strata umount MOUNTPOINT)");
    }
    return Fail(diff.error().code,
                "container '" + options.container + "': " + diff.error().context);
  }
  STRATA_RETURN_IF_ERROR(tar->Finish());
  CommittedImage result;
  result.diff_id = tar->DiffId();
  const Digest blob_digest = tar->BlobDigest();
  result.blob_size = tar->blob_bytes();
  result.entries = diff->entries;
  if (::fsync(blob.Get()) != 0 || ::lseek(blob.Get(), 0, SEEK_SET) != 0) {
    return FailErrno("write layer blob");
  }
  if (!store.HasLayer(result.diff_id)) {
    STRATA_RETURN_IF_ERROR(
        ImportLayerBlob(store, blob.Get(), blob_digest, result.diff_id, "committed layer"));
  }

  Json config = Json::parse(base_config, nullptr, false);
  if (config.is_discarded() || !config.is_object()) {
    return Fail(EINVAL, "config of image " + base.id.String() + ": not a JSON object");
  }
  const std::string created = Now();
  config["created"] = created;
  if (!options.author.empty()) config["author"] = options.author;
  config["rootfs"]["diff_ids"].push_back(result.diff_id.String());
  Json history = {{"created", created}, {"created_by", "strata commit"}};
  if (!options.author.empty()) history["author"] = options.author;
  if (!options.message.empty()) history["comment"] = options.message;
  if (!config.contains("history") || !config["history"].is_array()) {
    config["history"] = Json::array();
  }
  config["history"].push_back(history);

  ImageDocuments docs;
  docs.config = config.dump();
  docs.config_digest = Sha256Of(docs.config);
  docs.diff_ids = base.diff_ids;
  docs.diff_ids.push_back(result.diff_id);
  STRATA_ASSIGN_OR_RETURN(docs.manifest, ManifestOfStoredLayers(store, docs.config_digest,
                                                                docs.config, docs.diff_ids));
  docs.manifest_digest = Sha256Of(docs.manifest);
  if (!options.name.empty()) docs.names.push_back(options.name);
  STRATA_ASSIGN_OR_RETURN(result.image, CommitImage(store, docs));
  return result;
}

}  // namespace strata::store
