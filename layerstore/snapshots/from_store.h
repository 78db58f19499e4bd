// The remote-snapshotter protocol against a strata store: containerd, unpacking an image,
// prepares each layer's snapshot with the label containerd.io/snapshot.ref = the chainID it
// would commit. If the strata store already holds that chain (an image imported or pulled
// with strata whose chain_ids has it), the layer is registered as a committed snapshot of
// the store's own layer directory and containerd skips fetching and unpacking it
// (metadata/snapshot.go: ALREADY_EXISTS, then a walk finds the committed snapshot by label).
// The layers used so are held in the store (Store::SetHold) so `strata rm`/`prune` keep them.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "fs/base/status.h"
#include "layerstore/digest.h"
#include "layerstore/snapshots/snapshot_store.h"

namespace strata::store {

inline constexpr const char* kSnapshotRefLabel = "containerd.io/snapshot.ref";

// If the strata store at STORE_ROOT has chain CHAIN_ID with PARENT as the snapshot of its
// prefix (no parent for a bottom layer; else a committed snapshot labelled with the prefix's
// chainID), registers committed snapshot CHAIN_ID (labels LABELS) on the store's layer and
// returns true; false if the store cannot serve it (the caller prepares normally). HOLD names
// the snapshotter's hold in the store. Errors: the store's or the snapshot store's.
Result<bool> PrepareFromStore(SnapshotStore& snapshots, const std::string& store_root,
                              const std::string& hold, const std::string& chain_id,
                              const std::string& parent,
                              const std::map<std::string, std::string>& labels);

// The diffID of a store layer directory ".../layers/HEX/diff" (as Store::LayerDir names it,
// whatever spelling of the store's root it was made with); nullopt for another path.
std::optional<Digest> LayerOfDir(const std::string& dir);

// Rewrites the store's hold HOLD to the layers external snapshots use now (after a Remove).
Status RefreshHold(const SnapshotStore& snapshots, const std::string& store_root,
                   const std::string& hold);

}  // namespace strata::store
