#include "layerstore/snapshots/snapshot_report.h"

#include <dirent.h>
#include <unistd.h>

#include <set>

#include "layerstore/snapshots/from_store.h"
#include "layerstore/snapshots/snapshot_store.h"

namespace strata::store {

Result<std::optional<SnapshotReport>> InspectSnapshots(const std::string& root,
                                                       const Store& store) {
  if (::access((root + "/metadata.json").c_str(), F_OK) != 0) {
    if (errno == ENOENT) return std::optional<SnapshotReport>();
    return FailErrno(root + "/metadata.json");
  }
  STRATA_ASSIGN_OR_RETURN(auto snapshots, SnapshotStore::Open(root, ""));
  SnapshotReport report;
  report.root = root;
  // Compared by diffID: the snapshotter may name the store's root another way (a symlink, a
  // trailing slash) than this command does.
  std::set<std::string> held;
  for (const auto& [hold, layers] : store.Holds()) {
    for (const Digest& d : layers) held.insert(d.encoded);
  }
  std::set<std::string> names, owned;
  const std::vector<SnapshotInfo> all = snapshots->List();
  for (const SnapshotInfo& s : all) names.insert(s.name);
  for (const SnapshotInfo& s : all) {
    const std::string what = "snapshot '" + s.name + "'";
    switch (s.kind) {
      case SnapshotKind::kCommitted:
        ++report.committed;
        break;
      case SnapshotKind::kActive:
        ++report.active;
        break;
      case SnapshotKind::kView:
        ++report.views;
        break;
    }
    if (!s.parent.empty() && !names.contains(s.parent)) {
      report.problems.push_back(what + ": its parent '" + s.parent + "' is missing");
    }
    if (!s.external.empty()) {
      ++report.from_store;
      if (::access(s.external.c_str(), F_OK) != 0) {
        report.problems.push_back(what + ": its store layer " + s.external + " is missing");
      } else if (auto layer = LayerOfDir(s.external); !layer || !held.contains(layer->encoded)) {
        report.problems.push_back(what + ": its store layer " + s.external +
                                  " is not held (a prune may remove it)");
      }
      continue;
    }
    owned.insert(std::to_string(s.id));
    auto usage = snapshots->Usage(s.name);
    if (!usage) {
      report.problems.push_back(what + ": " + usage.error().Message());
      continue;
    }
    report.own_bytes += usage->size;
    report.own_inodes += usage->inodes;
  }
  if (DIR* d = ::opendir((root + "/snapshots").c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != ".." && !owned.contains(name)) ++report.orphans;
    }
    ::closedir(d);
  }
  return std::optional<SnapshotReport>(std::move(report));
}

}  // namespace strata::store
