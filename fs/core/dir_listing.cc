#include "fs/core/dir_listing.h"

#include <algorithm>
#include <utility>

namespace strata::core {

DirListings::DirListings(size_t budget) : shard_budget_(std::max<size_t>(budget / kShards, 1)) {}

std::shared_ptr<const DirListing> DirListings::Erase(
    Shard& shard, std::unordered_map<uint32_t, Shard::Slot>::iterator it) {
  std::shared_ptr<const DirListing> listing = std::move(it->second.listing);
  shard.entries -= listing->entries.size();
  shard.lru.erase(it->second.at);
  shard.slots.erase(it);
  return listing;
}

std::shared_ptr<const DirListing> DirListings::Take(uint64_t dir, std::vector<DirEntry> entries) {
  auto made = std::make_shared<DirListing>();
  made->dir = dir;
  // 31 bits, never 0. After 2^31 listings an id comes back: by then the listing it named is
  // long gone (or, kept by an abandoned stream, replaced here).
  made->id = next_id_.fetch_add(1, std::memory_order_relaxed) % ((uint32_t{1} << 31) - 1) + 1;
  made->entries = std::move(entries);
  std::shared_ptr<const DirListing> listing = std::move(made);

  std::vector<std::shared_ptr<const DirListing>> doomed;  // freed after the lock
  Shard& shard = ShardOf(listing->id);
  std::lock_guard lock(shard.mu);
  if (auto it = shard.slots.find(listing->id); it != shard.slots.end()) {
    doomed.push_back(Erase(shard, it));
  }
  shard.entries += listing->entries.size();
  shard.lru.push_front(listing->id);
  shard.slots.emplace(listing->id, Shard::Slot{listing, shard.lru.begin()});
  while (shard.entries > shard_budget_ && shard.lru.size() > 1) {
    doomed.push_back(Erase(shard, shard.slots.find(shard.lru.back())));
  }
  return listing;
}

std::shared_ptr<const DirListing> DirListings::Find(uint64_t dir, uint32_t id) {
  Shard& shard = ShardOf(id);
  std::lock_guard lock(shard.mu);
  auto it = shard.slots.find(id);
  if (it == shard.slots.end() || it->second.listing->dir != dir) return nullptr;
  shard.lru.splice(shard.lru.begin(), shard.lru, it->second.at);
  return it->second.listing;
}

void DirListings::Finish(uint32_t id) {
  Shard& shard = ShardOf(id);
  std::lock_guard lock(shard.mu);
  if (auto it = shard.slots.find(id); it != shard.slots.end()) {
    shard.lru.splice(shard.lru.end(), shard.lru, it->second.at);
  }
}

size_t DirListings::Size() {
  size_t total = 0;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    total += shard.entries;
  }
  return total;
}

}  // namespace strata::core
