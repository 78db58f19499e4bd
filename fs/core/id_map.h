// IdMap: the uid/gid translation between the layers and users (fuse-overlayfs uidmapping=,
// gidmapping=, squash_to_root, squash_to_uid=, squash_to_gid=).
//
// A range {stored, shown, count} shows an id stored..stored+count-1 in a layer as
// shown..shown+count-1, and stores a caller's id shown+i as stored+i. With mappings, an id no
// range covers is the overflow id 65534 (as fuse-overlayfs). Squashing replaces every shown
// owner (not what is stored). Without ranges or squash, ids pass unchanged. Immutable; thread-safe.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace strata::core {

struct IdRange {
  uint32_t stored = 0;
  uint32_t shown = 0;
  uint32_t count = 0;
};

inline constexpr uint32_t kOverflowId = 65534;

struct IdMap {
  std::vector<IdRange> uids;
  std::vector<IdRange> gids;
  std::optional<uid_t> squash_uid;  // squash_to_uid=, or 0 with squash_to_root
  std::optional<gid_t> squash_gid;

  bool Identity() const { return uids.empty() && gids.empty() && !squash_uid && !squash_gid; }

  static uint32_t Map(const std::vector<IdRange>& ranges, uint32_t id, bool to_shown) {
    if (ranges.empty()) return id;
    for (const IdRange& r : ranges) {
      const uint32_t from = to_shown ? r.stored : r.shown;
      const uint32_t to = to_shown ? r.shown : r.stored;
      if (id >= from && id - from < r.count) return to + (id - from);
    }
    return kOverflowId;
  }
  // Owner of stored attributes ST as users see it.
  void Show(struct stat* st) const {
    st->st_uid = squash_uid ? *squash_uid : Map(uids, st->st_uid, true);
    st->st_gid = squash_gid ? *squash_gid : Map(gids, st->st_gid, true);
  }
  uid_t StoreUid(uid_t shown) const { return Map(uids, shown, false); }
  gid_t StoreGid(gid_t shown) const { return Map(gids, shown, false); }
};

}  // namespace strata::core
