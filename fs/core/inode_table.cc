#include "fs/core/inode_table.h"

#include <algorithm>

namespace strata::core {
namespace {

// Written only when it changes: a request's read of its node leaves the cache line shared.
void MarkUsed(Inode& node) {
  if (!node.used.load(std::memory_order_relaxed)) node.used.store(true, std::memory_order_relaxed);
}

}  // namespace

InodeTable::InodeTable(std::shared_ptr<Inode> root) : root_(std::move(root)) {
  root_->id = kRootId;
}

std::shared_ptr<Inode> InodeTable::Get(InodeId id) const {
  if (id == kRootId) return root_;
  const Shard& shard = shards_[ShardOf(id)];
  std::lock_guard lock(shard.mu);
  auto it = shard.by_id.find(id.value);
  if (it == shard.by_id.end()) return nullptr;
  MarkUsed(*it->second.node);
  return it->second.node;
}

std::shared_ptr<Inode> InodeTable::FindAndRef(uint64_t key) {
  if (key == root_->st_ino) return root_;
  Shard& shard = shards_[ShardOfKey(key)];
  std::lock_guard lock(shard.mu);
  auto it = shard.by_key.find(key);
  if (it == shard.by_key.end()) return nullptr;
  Slot& slot = shard.by_id.at(it->second);
  ++slot.nlookup;
  MarkUsed(*slot.node);
  return slot.node;
}

std::shared_ptr<Inode> InodeTable::InsertAndRef(std::shared_ptr<Inode> candidate) {
  const size_t index = ShardOfKey(candidate->st_ino);
  Shard& shard = shards_[index];
  size_t size = 0;  // Size() once published
  {
    std::lock_guard lock(shard.mu);
    auto [it, inserted] = shard.by_key.try_emplace(candidate->st_ino, 0);
    if (!inserted) {
      Slot& slot = shard.by_id.at(it->second);
      ++slot.nlookup;
      MarkUsed(*slot.node);
      return slot.node;
    }
    // Ids are (sequence << kShardBits | shard); the sequence starts at 1, so no id is 1 (root).
    const uint64_t id = (shard.next_seq++ << kShardBits) | index;
    it->second = id;
    candidate->id = InodeId{id};
    shard.by_id.emplace(id, Slot{candidate, 1});
    // Forgotten ids leave the clock when the hand reaches them, or here if they pile up.
    if (shard.clock.size() >= 2 * shard.by_id.size() + 1024) {
      std::erase_if(shard.clock, [&](uint64_t old) { return !shard.by_id.contains(old); });
    }
    shard.clock.push_back(id);
    // Counted under the lock, as Forget uncounts: the count never runs below the nodes held.
    size = count_.fetch_add(1, std::memory_order_seq_cst) + 2;
  }
  if (budget_ != 0 && size > budget_ && !over_.exchange(true, std::memory_order_seq_cst)) {
    on_over_();
  }
  return candidate;
}

void InodeTable::SetBudget(size_t budget, std::function<void()> on_over) {
  budget_ = on_over ? budget : 0;
  on_over_ = std::move(on_over);
}

std::vector<InodeId> InodeTable::PruneCandidates(size_t n) {
  std::vector<InodeId> out;
  const size_t per_shard = n / kShards + 1;
  const size_t start = hand_.fetch_add(1, std::memory_order_relaxed);
  for (size_t s = 0; s < kShards && out.size() < n; ++s) {
    Shard& shard = shards_[(start + s) % kShards];
    std::lock_guard lock(shard.mu);
    // A bounded sweep: the lock is held for a few thousand steps at most.
    const size_t steps = std::min(shard.clock.size(), 4 * per_shard + 64);
    size_t taken = 0;
    for (size_t i = 0; i < steps && taken < per_shard && out.size() < n; ++i) {
      const uint64_t id = shard.clock.front();
      shard.clock.pop_front();
      auto it = shard.by_id.find(id);
      if (it == shard.by_id.end()) continue;  // forgotten
      shard.clock.push_back(id);
      Inode& node = *it->second.node;
      if (node.used.load(std::memory_order_relaxed)) {
        node.used.store(false, std::memory_order_relaxed);
        continue;
      }
      out.push_back(InodeId{id});
      ++taken;
    }
  }
  return out;
}

bool InodeTable::Ref(InodeId id) {
  if (id == kRootId) return true;
  Shard& shard = shards_[ShardOf(id)];
  std::lock_guard lock(shard.mu);
  auto it = shard.by_id.find(id.value);
  if (it == shard.by_id.end()) return false;
  ++it->second.nlookup;
  return true;
}

void InodeTable::Unkey(const Inode& node) {
  if (node.id == kRootId) return;
  Shard& shard = shards_[ShardOfKey(node.st_ino)];
  std::lock_guard lock(shard.mu);
  auto it = shard.by_key.find(node.st_ino);
  if (it != shard.by_key.end() && it->second == node.id.value) shard.by_key.erase(it);
}

void InodeTable::Forget(InodeId id, uint64_t n) {
  if (id == kRootId) return;
  std::shared_ptr<Inode> dropped;  // destroyed after the lock is released (may close fds)
  Shard& shard = shards_[ShardOf(id)];
  std::lock_guard lock(shard.mu);
  auto it = shard.by_id.find(id.value);
  if (it == shard.by_id.end()) return;
  Slot& slot = it->second;
  if (slot.nlookup > n) {
    slot.nlookup -= n;
    return;
  }
  dropped = std::move(slot.node);
  shard.by_id.erase(it);
  count_.fetch_sub(1, std::memory_order_relaxed);
  // An id's shard is its key's shard. The key may belong to a newer node already (Unkey, then
  // a new object with the same st_ino).
  auto k = shard.by_key.find(dropped->st_ino);
  if (k != shard.by_key.end() && k->second == id.value) shard.by_key.erase(k);
}

}  // namespace strata::core
