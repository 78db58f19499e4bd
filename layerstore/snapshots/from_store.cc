#include "layerstore/snapshots/from_store.h"

#include <vector>

#include "layerstore/digest.h"
#include "layerstore/store.h"

namespace strata::store {
namespace {

std::vector<Digest> HeldLayers(const SnapshotStore& snapshots) {
  std::vector<Digest> out;
  for (const std::string& dir : snapshots.ExternalDirs()) {
    if (auto d = LayerOfDir(dir)) out.push_back(*d);
  }
  return out;
}

}  // namespace

std::optional<Digest> LayerOfDir(const std::string& dir) {
  const size_t end = dir.rfind("/diff");
  if (end == std::string::npos || end + 5 != dir.size() || end == 0) return std::nullopt;
  const size_t start = dir.rfind('/', end - 1);
  if (start == std::string::npos || start < 7 || dir.compare(start - 7, 7, "/layers") != 0) {
    return std::nullopt;
  }
  auto d = ParseDigest("sha256:" + dir.substr(start + 1, end - start - 1));
  if (!d) return std::nullopt;
  return *d;
}

Result<bool> PrepareFromStore(SnapshotStore& snapshots, const std::string& store_root,
                              const std::string& hold, const std::string& chain_id,
                              const std::string& parent,
                              const std::map<std::string, std::string>& labels) {
  auto wanted = ParseDigest(chain_id);
  if (!wanted) return false;
  if (auto existing = snapshots.Stat(chain_id)) {
    // Registered before (another namespace of containerd asked): the same chain, if the same
    // parent.
    return existing->kind == SnapshotKind::kCommitted && existing->parent == parent;
  }
  // The shared lock keeps gc away until the hold is written.
  STRATA_ASSIGN_OR_RETURN(Store store, Store::Open(store_root, Store::Lock::kShared));
  STRATA_ASSIGN_OR_RETURN(auto images, store.ListImages());
  for (const ImageRecord& image : images) {
    for (size_t i = 0; i < image.chain_ids.size(); ++i) {
      if (!(image.chain_ids[i] == *wanted)) continue;
      if (i == 0 ? !parent.empty() : parent.empty()) return false;
      if (i > 0) {
        auto p = snapshots.Stat(parent);
        if (!p) return false;
        auto ref = p->labels.find(kSnapshotRefLabel);
        if (ref == p->labels.end() || ref->second != image.chain_ids[i - 1].String()) {
          return false;
        }
      }
      if (!store.HasLayer(image.diff_ids[i])) return false;
      std::map<std::string, std::string> l = labels;
      l[kSnapshotRefLabel] = chain_id;
      if (Status added =
              snapshots.AddExternal(chain_id, parent, store.LayerDir(image.diff_ids[i]), l);
          !added) {
        if (added.error().code != EEXIST) return Unexpected{added.error()};
        // Registered by a concurrent prepare of the same chain (another namespace).
        auto existing = snapshots.Stat(chain_id);
        return existing && existing->kind == SnapshotKind::kCommitted && existing->parent == parent;
      }
      STRATA_RETURN_IF_ERROR(store.SetHold(hold, HeldLayers(snapshots)));
      return true;
    }
  }
  return false;
}

Status RefreshHold(const SnapshotStore& snapshots, const std::string& store_root,
                   const std::string& hold) {
  STRATA_ASSIGN_OR_RETURN(Store store, Store::Open(store_root, Store::Lock::kShared));
  return store.SetHold(hold, HeldLayers(snapshots));
}

}  // namespace strata::store
