// Store: the content-addressed image store on disk.
//
//   ROOT/lock                      flock: shared while importing, exclusive for rm and gc
//   ROOT/blobs/sha256/HEX          manifests, indexes and configs, byte for byte as imported
//   ROOT/layers/HEX/diff/          one extracted layer, HEX = its diffID; shared by images
//   ROOT/layers/HEX/layer.json     its blob digest, compression, sizes
//   ROOT/layers/HEX/blob           the layer blob byte for byte as received (compressed as it
//                                  came), for save and push; absent in layers stored before
//   ROOT/images/HEX.json           one image, HEX = its config digest (the image ID)
//   ROOT/names.json                name[:tag] -> image ID (a tag is an alias, never a copy)
//   ROOT/holds/NAME.json           layers another program uses (the containerd snapshotter's
//                                  snapshots), kept by gc while held
//   ROOT/locations.json            blob digest -> "registry/repository"s known to hold it
//                                  (pulled from, pushed to): where push mounts it from
//   ROOT/containers/NAME/          a writable container layer: container.json (its image),
//                                  diff/ (the upper layer) and work/ (stratafs' workdir)
//   ROOT/tmp/                      work directories; nothing here is ever read as content
//
// Everything is published atomically: written under tmp/ (or as NAME.tmp-PID), fsynced,
// renamed into place, the directory fsynced. A process killed at any point leaves only
// garbage under tmp/ that the next exclusive operation removes, and a half-extracted layer is
// never visible under layers/. Thread-safety: one Store object per thread; processes
// coordinate through the lock file.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fs/base/status.h"
#include "fs/base/unique_fd.h"
#include "layerstore/digest.h"

namespace strata::store {

struct LayerRecord {
  Digest diff_id;
  Digest blob_digest;
  std::string compression;
  uint64_t blob_size = 0;
  uint64_t tar_size = 0;
  std::optional<Digest> tree_digest;  // TreeDigest of diff/ at import (absent in older stores)
};

struct ContainerRecord {
  std::string name;
  Digest image;       // the image it was made from (kept alive by gc while it exists)
  std::string upper;  // ROOT/containers/NAME/diff
  std::string work;   // ROOT/containers/NAME/work
};

// A manifest an image was received with under a repository (podman's RepoDigests).
struct RepoDigest {
  std::string repository;  // "docker.io/library/nginx"; "" when received without a name
  Digest manifest;
  std::string String() const { return repository + "@" + manifest.String(); }
  friend bool operator==(const RepoDigest&, const RepoDigest&) = default;
};

struct ImageRecord {
  Digest id;               // config digest
  Digest manifest_digest;  // the manifest it was last received with
  // Every manifest it was received with (import, pull, commit), oldest first; each kept as a
  // blob while the image exists, so inspect --raw, save and push can use it byte for byte.
  std::vector<RepoDigest> repo_digests;
  std::vector<Digest> diff_ids;   // bottom layer first
  std::vector<Digest> chain_ids;  // chainID of each prefix of the stack
  std::string os, architecture, variant;
  std::string created;
};

class Store {
 public:
  enum class Lock { kShared, kExclusive };

  // Opens (creating if needed) the store at ROOT and takes the store lock.
  static Result<Store> Open(const std::string& root, Lock lock);

  const std::string& root() const { return root_; }
  std::string LayerDir(const Digest& diff_id) const;  // ROOT/layers/HEX/diff
  // ROOT/layers/HEX/blob: the blob the layer was extracted from (may be absent).
  std::string LayerBlobPath(const Digest& diff_id) const;

  // Blobs (small JSON documents). PutBlob verifies DATA hashes to DIGEST.
  bool HasBlob(const Digest& digest) const;
  Status PutBlob(const Digest& digest, const std::string& data);
  Result<std::string> GetBlob(const Digest& digest) const;

  bool HasLayer(const Digest& diff_id) const;
  // A fresh directory under tmp/ to extract into (its "diff" subdirectory is created; the
  // blob goes to WORK/blob).
  Result<std::string> MakeWorkDir();
  // Publishes a layer extracted into WORK/diff: writes layer.json, renames WORK into layers/.
  // If another import published the same diffID meanwhile, WORK is discarded.
  Status PublishLayer(const std::string& work, const LayerRecord& record);
  Result<LayerRecord> GetLayer(const Digest& diff_id) const;

  // Stores IMAGE; its repo_digests are added to those of an already stored record of the same
  // id (atomically with other writers of this store).
  Status PutImage(const ImageRecord& image);
  Result<ImageRecord> GetImage(const Digest& id) const;
  Result<std::vector<ImageRecord>> ListImages() const;

  // Names: "repo:tag" -> image id.
  Result<std::vector<std::pair<std::string, Digest>>> ListNames() const;
  Status SetName(const std::string& name, const Digest& id);
  Status RemoveName(const std::string& name);

  // Where blobs are known to be: "registry/repository" for each of BLOBS (at most 8 kept per
  // blob, the newest). Best effort for a cache: callers may ignore a failure.
  Status AddBlobLocation(const std::vector<Digest>& blobs, const std::string& repository);
  std::vector<std::string> BlobLocations(const Digest& blob) const;  // newest first

  // Layers NAME ([A-Za-z0-9_.-]+) uses outside the store, kept by CollectGarbage while held;
  // an empty list releases them. Errors: EINVAL for a bad name, or the errno of writing.
  Status SetHold(const std::string& name, const std::vector<Digest>& diff_ids);
  // Every hold: name -> the layers it keeps (unreadable holds are skipped).
  std::map<std::string, std::vector<Digest>> Holds() const;

  // Deletes what no image or container needs (layers no image uses, blobs no image references)
  // and stale work directories. Needs the exclusive lock.
  Result<std::vector<std::string>> CollectGarbage();
  // Removes the image record and its names. EBUSY if a container was made from it.
  Status RemoveImage(const Digest& id);

  // Containers. NAME: [A-Za-z0-9][A-Za-z0-9_.-]{0,127}, else EINVAL. EnsureContainer creates
  // the container of IMAGE named NAME, or returns it if it exists for IMAGE (EEXIST if it was
  // made from another image). RemoveContainer deletes it with its changes: ENOENT if there is
  // none, EBUSY while it is mounted (stratafs holds its workdir).
  Result<ContainerRecord> EnsureContainer(const std::string& name, const Digest& image);
  Result<std::vector<ContainerRecord>> ListContainers() const;
  Status RemoveContainer(const std::string& name);

 private:
  Store(std::string root, UniqueFd lock) : root_(std::move(root)), lock_(std::move(lock)) {}
  Status WriteFileAtomic(const std::string& path, const std::string& data) const;

  std::string root_;
  UniqueFd lock_;
};

// Recursively deletes PATH, never following symlinks. Missing is not an error.
Status RemoveAll(const std::string& path);

}  // namespace strata::store
