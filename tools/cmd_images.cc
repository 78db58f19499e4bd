// Managing images: tag, rm, prune, df, verify (listings are in cmd_list.cc).
#include <algorithm>
#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "layerstore/image_ops.h"
#include "layerstore/inspect.h"
#include "layerstore/reference.h"
#include "layerstore/snapshots/snapshot_report.h"
#include "tools/commands.h"

namespace strata::cli {
namespace {

using store::Digest;
using store::Store;
using Json = nlohmann::json;

}  // namespace

int Remove(const Globals& g, const std::vector<std::string>& refs) {
  auto store = Store::Open(g.root, Store::Lock::kExclusive);
  if (!store) return Report(store.error());
  for (const std::string& ref : refs) {
    auto removal = store::RemoveReference(*store, ref);
    if (!removal) return Report(removal.error());
    if (removal->image_removed) {
      std::printf("Deleted %s\n", removal->id.String().c_str());
    } else {
      std::printf("Untagged %s\n", removal->untagged.c_str());
    }
  }
  auto removed = store->CollectGarbage();
  if (!removed) return Report(removed.error());
  return 0;
}

int Prune(const Globals& g) {
  auto store = Store::Open(g.root, Store::Lock::kExclusive);
  if (!store) return Report(store.error());
  auto images = store::RemoveUnnamedImages(*store);
  if (!images) return Report(images.error());
  for (const Digest& id : *images) std::printf("Deleted image %s\n", id.String().c_str());
  auto removed = store->CollectGarbage();
  if (!removed) return Report(removed.error());
  for (const auto& r : *removed) std::printf("Deleted %s\n", r.c_str());
  return 0;
}

int Tag(const Globals& g, const std::string& ref, const std::string& name) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  auto id = Resolve(*store, ref);
  if (!id) return Report(id.error());
  auto normalized = store::NormalizeName(name);
  if (!normalized) return Report(normalized.error());
  Status s = store->SetName(*normalized, *id);
  if (!s) return Report(s.error());
  return 0;
}

namespace {

// The snapshots strata-snapshotter keeps for containerd beside this store (STORE/snapshotter),
// if any.
Result<std::optional<store::SnapshotReport>> Snapshots(const Globals& g, const Store& store) {
  return store::InspectSnapshots(g.root + "/snapshotter", store);
}

}  // namespace

int DiskUsage(const Globals& g, const std::string& format) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  auto usage = store::ComputeUsage(*store);
  if (!usage) return Report(usage.error());
  auto snapshots = Snapshots(g, *store);
  if (!snapshots) return Report(snapshots.error());
  if (format == "json") {
    Json images = Json::array();
    for (const auto& u : usage->images) {
      images.push_back(
          {{"id", u.id.String()}, {"size", u.total}, {"shared", u.shared}, {"unique", u.unique}});
    }
    Json out = {{"images", images},
                {"layers", usage->layers},
                {"layers_size", usage->layers_bytes},
                {"blobs_size", usage->blobs_bytes}};
    if (*snapshots) {
      const store::SnapshotReport& r = **snapshots;
      out["snapshots"] = {
          {"root", r.root},        {"committed", r.committed},   {"active", r.active},
          {"views", r.views},      {"from_store", r.from_store}, {"size", r.own_bytes},
          {"inodes", r.own_inodes}};
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("%-14s %12s %12s %12s\n", "IMAGE ID", "SIZE", "SHARED", "UNIQUE");
  for (const auto& u : usage->images) {
    std::printf("%-14s %12s %12s %12s\n", Short(u.id).c_str(), HumanSize(u.total).c_str(),
                HumanSize(u.shared).c_str(), HumanSize(u.unique).c_str());
  }
  std::printf("%zu layers stored once: %s, and their blobs as received: %s\n", usage->layers,
              HumanSize(usage->layers_bytes).c_str(), HumanSize(usage->blobs_bytes).c_str());
  if (*snapshots) {
    const store::SnapshotReport& r = **snapshots;
    std::printf(
        "containerd snapshots (strata-snapshotter, %s): %zu committed (%zu of them this "
        "store's layers, not unpacked again), %zu active, %zu views; %s in their own "
        "layers\n",
        r.root.c_str(), r.committed, r.from_store, r.active, r.views,
        HumanSize(r.own_bytes).c_str());
  }
  return 0;
}

int Verify(const Globals& g) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  auto report = store::VerifyStore(*store);
  if (!report) return Report(report.error());
  auto snapshots = Snapshots(g, *store);
  if (!snapshots) return Report(snapshots.error());
  if (*snapshots) {
    for (const std::string& p : (*snapshots)->problems) report->problems.push_back(p);
  }
  for (const std::string& p : report->problems) std::fprintf(stderr, "strata: %s\n", p.c_str());
  std::printf("%zu blobs, %zu layers, %zu images", report->blobs, report->layers, report->images);
  if (*snapshots) {
    std::printf(", %zu containerd snapshots",
                (*snapshots)->committed + (*snapshots)->active + (*snapshots)->views);
  }
  std::printf(": %s\n", report->problems.empty() ? "ok" : "CORRUPT");
  if (*snapshots && (*snapshots)->orphans) {
    std::printf(
        "(%zu snapshot directories belong to no snapshot: strata-snapshotter removes "
        "them when containerd next cleans up)\n",
        (*snapshots)->orphans);
  }
  if (report->layers_unhashed) {
    std::printf("(%zu layers imported by an older strata have no tree digest: not re-hashed)\n",
                report->layers_unhashed);
  }
  if (report->layers_without_blob) {
    std::printf(
        "(%zu layers stored by an older strata keep no blob: their images cannot be "
        "saved or pushed until imported or pulled again)\n",
        report->layers_without_blob);
  }
  return report->problems.empty() ? 0 : 1;
}

}  // namespace strata::cli
