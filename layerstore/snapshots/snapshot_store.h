// SnapshotStore: the snapshots a containerd proxy snapshotter keeps (containerd's
// snapshots.Snapshotter semantics), and the mounts that expose them through stratafs.
//
//   ROOT/metadata.json          every snapshot: key, parent, kind, labels, times, its directory
//   ROOT/snapshots/ID/fs        an active or committed snapshot's tree (its upper layer, then
//                               a lower layer of its children); ID/work its stratafs workdir
//
// A committed snapshot may instead be a layer of the strata store (external): containerd asked
// for a chain the store already has (the remote-snapshotter protocol, PrepareRemote), so
// nothing was fetched or unpacked. The metadata is rewritten atomically (temp, fsync, rename,
// fsync the directory) after every change, before the change is reported: a snapshotter
// killed at any point restarts with a consistent view; directories without metadata are
// removed by Cleanup. Thread-safe: one mutex orders the (short) metadata operations.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fs/base/status.h"

namespace strata::store {

enum class SnapshotKind { kView = 1, kActive = 2, kCommitted = 3 };

struct SnapshotInfo {
  std::string name;    // the key (active, view) or the name it was committed as
  std::string parent;  // a committed snapshot's name, or ""
  SnapshotKind kind = SnapshotKind::kActive;
  std::map<std::string, std::string> labels;
  int64_t created_ns = 0, updated_ns = 0;  // since the epoch
  uint64_t id = 0;                         // its directory under snapshots/ (0: external)
  std::string external;                    // a store layer's diff/ for an external snapshot
};

struct SnapshotMount {
  std::string type, source;
  std::vector<std::string> options;
};

struct SnapshotUsage {
  int64_t size = 0;  // bytes of blocks in use
  int64_t inodes = 0;
};

class SnapshotStore {
 public:
  // Opens (creating) ROOT. STRATAFS_TYPE is the mount type stacked snapshots get
  // ("fuse3.stratafs"). Errors: the errno of creating or reading, EINVAL for bad metadata.
  static Result<std::unique_ptr<SnapshotStore>> Open(const std::string& root,
                                                     std::string stratafs_type);

  // A new active (or, with VIEW, read-only view) snapshot KEY on committed PARENT, and its
  // mounts. Errors: EEXIST (KEY exists), ENOENT (no PARENT), EINVAL (PARENT not committed, an
  // empty key).
  Result<std::vector<SnapshotMount>> Prepare(const std::string& key, const std::string& parent,
                                             const std::map<std::string, std::string>& labels,
                                             bool view);
  // Registers DIR (a strata store layer) as committed snapshot NAME on PARENT, as if it had been
  // prepared, unpacked and committed. Errors: EEXIST, ENOENT (no PARENT), EINVAL.
  Status AddExternal(const std::string& name, const std::string& parent, const std::string& dir,
                     const std::map<std::string, std::string>& labels);
  // Errors: ENOENT, EBUSY for a committed snapshot (containerd's FAILED_PRECONDITION).
  Result<std::vector<SnapshotMount>> Mounts(const std::string& key) const;
  // Active KEY becomes committed NAME (its labels replaced by LABELS if given). Errors: ENOENT
  // (no KEY), EEXIST (NAME exists), EBUSY (KEY is not active).
  Status Commit(const std::string& name, const std::string& key,
                const std::map<std::string, std::string>& labels);
  // Errors: ENOENT, EBUSY if a snapshot has it as parent.
  Status Remove(const std::string& key);
  Result<SnapshotInfo> Stat(const std::string& key) const;
  // Updates the labels of INFO.name: all of them (FIELDS empty or "labels"), or those named
  // "labels.KEY" in FIELDS. Errors: ENOENT, EINVAL for another field.
  Result<SnapshotInfo> Update(const SnapshotInfo& info, const std::vector<std::string>& fields);
  std::vector<SnapshotInfo> List() const;
  // Errors: ENOENT.
  Result<SnapshotUsage> Usage(const std::string& key) const;
  // Removes snapshot directories no snapshot owns (a crash between creating and recording one,
  // or after removing one). Returns how many.
  Result<size_t> Cleanup();

  // The store layers external snapshots use (a strata store keeps them while listed).
  std::vector<std::string> ExternalDirs() const;

 private:
  SnapshotStore() = default;
  Status Save();  // under mu_
  std::string Dir(uint64_t id) const;
  // The fs directories of NAME and its ancestors, NAME's first. Under mu_.
  std::vector<std::string> Chain(const std::string& name) const;
  std::vector<SnapshotMount> MountsOf(const SnapshotInfo& info) const;
  // A new snapshot NAME of KIND on PARENT, not recorded yet. Under mu_. Errors: EEXIST (NAME
  // exists), ENOENT (no PARENT), EINVAL (PARENT not committed).
  Result<SnapshotInfo> NewInfo(const std::string& name, const std::string& parent,
                               SnapshotKind kind,
                               const std::map<std::string, std::string>& labels) const;

  std::string root_;
  std::string stratafs_type_;
  mutable std::mutex mu_;
  std::map<std::string, SnapshotInfo> snapshots_;  // guarded by mu_
  uint64_t next_id_ = 1;                           // guarded by mu_
};

}  // namespace strata::store
