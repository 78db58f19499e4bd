#include "fs/core/inode_table.h"

namespace strata::core {

InodeTable::InodeTable(std::shared_ptr<Inode> root) : root_(std::move(root)) {
  root_->id = kRootId;
}

std::shared_ptr<Inode> InodeTable::Get(InodeId id) const {
  if (id == kRootId) return root_;
  const Shard& shard = shards_[ShardOf(id)];
  std::lock_guard lock(shard.mu);
  auto it = shard.by_id.find(id.value);
  if (it == shard.by_id.end()) return nullptr;
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
  return slot.node;
}

std::shared_ptr<Inode> InodeTable::InsertAndRef(std::shared_ptr<Inode> candidate) {
  const size_t index = ShardOfKey(candidate->st_ino);
  Shard& shard = shards_[index];
  std::lock_guard lock(shard.mu);
  auto [it, inserted] = shard.by_key.try_emplace(candidate->st_ino, 0);
  if (!inserted) {
    Slot& slot = shard.by_id.at(it->second);
    ++slot.nlookup;
    return slot.node;
  }
  // Ids are (sequence << kShardBits | shard); the sequence starts at 1, so no id is 1 (root).
  const uint64_t id = (shard.next_seq++ << kShardBits) | index;
  it->second = id;
  candidate->id = InodeId{id};
  shard.by_id.emplace(id, Slot{candidate, 1});
  return candidate;
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
  // An id's shard is its key's shard. The key may belong to a newer node already (Unkey, then
  // a new object with the same st_ino).
  auto k = shard.by_key.find(dropped->st_ino);
  if (k != shard.by_key.end() && k->second == id.value) shard.by_key.erase(k);
}

size_t InodeTable::Size() const {
  size_t total = 1;
  for (const Shard& shard : shards_) {
    std::lock_guard lock(shard.mu);
    total += shard.by_id.size();
  }
  return total;
}

}  // namespace strata::core
