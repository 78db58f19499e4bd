// The listings directory streams are served from, when the kernel reads directories without
// opening them (fs/fuse/ops_dir.cc): no OPENDIR/RELEASEDIR round trip, so no per-stream
// handle to hold a stream's listing. A listing is taken at a read at offset 0 and named by an
// id; the offset after its entry I is (id << 32) | (I + 1), so a read at any other offset says
// which listing it continues and where, and is served from that listing while it is cached.
//
// Why offsets name a listing and not just an entry (as ext4's hash cookies do): the kernel
// caches a directory's listing (FOPEN_CACHE_DIR) and checks that the cache is current only
// for reads at offset 0. A stream that read its first entries from this daemon and goes on at
// an offset the cache holds is served the rest from the cache, which may have been filled
// before a name changed; with offsets that mean the same entry in every listing, that stream
// would list a name removed before it started. An offset that names its listing is only ever
// found in a cache filled from that same listing; elsewhere the kernel asks this daemon.
//
// DirListings keeps the listings being read, within a budget: when it needs room, the ones read
// to their end go first, then the least recently read (the most recent of each shard always
// stays). A listing read to its end is kept that long because another stream may still go on
// with it: one that read its start from the kernel's cache (filled from this listing) and
// comes here once a change made the kernel drop that cache. A read that names a listing no
// longer kept is served from a new listing at the same index, as a stream over a directory
// that changed meanwhile may be: POSIX leaves names added or removed since opendir or
// rewinddir unspecified, but a name that stayed could then be skipped or repeated, so the
// budget makes this rare.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "fs/core/union_fs.h"

namespace strata::core {

struct DirListing {
  uint64_t dir = 0;  // the directory's InodeId
  uint32_t id = 0;   // 31 bits, never 0, so offsets are positive
  std::vector<DirEntry> entries;

  // The offset after entry I.
  off_t OffsetAfter(size_t i) const {
    return static_cast<off_t>(uint64_t{id} << 32 | (static_cast<uint64_t>(i) + 1));
  }
};

// The listing id and entry index an offset names (0, 0 for offset 0).
inline uint32_t ListingOf(off_t off) {
  return static_cast<uint32_t>(static_cast<uint64_t>(off) >> 32);
}
inline size_t IndexAt(off_t off) {
  return static_cast<size_t>(static_cast<uint64_t>(off) & 0xffffffffu);
}

class DirListings {
 public:
  // BUDGET: entries of kept listings in all (beyond the most recent of each shard).
  explicit DirListings(size_t budget);

  // Names ENTRIES (a listing of directory DIR) with a fresh id and keeps it; drops listings
  // while its shard is over its budget (those read to their end, then the least recently read).
  std::shared_ptr<const DirListing> Take(uint64_t dir, std::vector<DirEntry> entries);
  // The kept listing ID of directory DIR, or null.
  std::shared_ptr<const DirListing> Find(uint64_t dir, uint32_t id);
  // Listing ID was read to its end: it becomes the first to drop. Not dropped now: another
  // stream may have read its start from the kernel's cache and go on with it here.
  void Finish(uint32_t id);
  // Entries kept, for tests.
  size_t Size();

 private:
  static constexpr size_t kShards = 8;
  struct Shard {
    std::mutex mu;
    std::list<uint32_t> lru;  // guarded by mu; most recently read first
    struct Slot {
      std::shared_ptr<const DirListing> listing;
      std::list<uint32_t>::iterator at;
    };
    std::unordered_map<uint32_t, Slot> slots;  // guarded by mu
    size_t entries = 0;                        // guarded by mu
  };
  Shard& ShardOf(uint32_t id) { return shards_[id % kShards]; }
  // Removes IT from SHARD; returns its listing (to be freed outside the lock).
  static std::shared_ptr<const DirListing> Erase(
      Shard& shard, std::unordered_map<uint32_t, Shard::Slot>::iterator it);

  const size_t shard_budget_;
  std::atomic<uint32_t> next_id_{0};
  std::array<Shard, kShards> shards_;
};

}  // namespace strata::core
