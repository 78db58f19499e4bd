// What the strata-snapshotter keeps for containerd, as `strata df` and `strata verify` show it:
// its snapshots by kind, the bytes of its own layers, the committed snapshots that are layers
// of the strata store (served without unpacking), and anything inconsistent. Read only: the
// snapshotter may be running (its metadata is replaced atomically, so a read sees one state).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fs/base/status.h"
#include "layerstore/store.h"

namespace strata::store {

struct SnapshotReport {
  std::string root;  // the snapshotter's directory
  size_t committed = 0, active = 0, views = 0;
  size_t from_store = 0;  // committed snapshots that are strata store layers
  int64_t own_bytes = 0;  // blocks in use in the snapshotter's own layers
  int64_t own_inodes = 0;
  size_t orphans = 0;                 // directories no snapshot owns (Cleanup removes them)
  std::vector<std::string> problems;  // empty when consistent
};

// The report of the snapshotter at ROOT (STORE/snapshotter unless it was started with another
// --root), serving from STORE; nullopt if no snapshotter has kept snapshots there.
Result<std::optional<SnapshotReport>> InspectSnapshots(const std::string& root, const Store& store);

}  // namespace strata::store
