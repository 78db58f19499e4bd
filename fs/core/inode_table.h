// InodeTable: the node ids the kernel holds, with their lookup counts.
//
// Contract (FUSE lookup-count rules, as libfuse's passthrough_hp `forget_one`):
// - every reply that hands an entry to the kernel (lookup, readdirplus, later create/mkdir/...)
//   is preceded by exactly one Ref; if that reply fails, the caller undoes it with Forget(id, 1);
// - Forget(id, n) subtracts n and erases the node at zero. The root is never erased.
// - an id is never reused within a mount (64-bit sequence), so a stale id is reported as
//   unknown (Get returns null -> ESTALE), never as some other node; for the same reason every
//   entry goes to the kernel with FUSE generation 0 (a new generation is needed only where a
//   node id is reused).
// - a key (st_ino) names one live object at a time: a node keeps its real object alive while
//   it is published (inode.h), so an inode number the upper filesystem frees and reuses can
//   never lead to an old node.
//
// Concurrency: no global lock. The table is split into kShards shards, each with its own mutex;
// a node lives in the shard chosen by its key (the st_ino users see, unique within the mount),
// and its id encodes that shard, so Get, Ref
// and Forget take exactly one shard lock, held only for the map operation (never across a
// syscall or a FUSE reply). Lock order: a thread holds at most one shard lock at a time.
//
// A bound (fuse/node_pruner.h): the kernel decides when it forgets a node, but can be asked to
// drop the ones it holds and is not using. Each shard keeps its ids in publication order and
// PruneCandidates sweeps them as a clock: a node a request asked for since the hand last passed
// it (Inode::used) is skipped once, the others are named; every live id goes back behind the
// hand, since the kernel keeps the nodes it is using and only its forget removes one.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "fs/core/inode.h"

namespace strata::core {

inline size_t HashKey(uint64_t key) {
  const uint64_t h = key * 0x9E3779B97F4A7C15ull;
  return static_cast<size_t>(h ^ (h >> 29));
}

class InodeTable {
 public:
  // `root` becomes id 1, with a lookup count that never drops to zero.
  explicit InodeTable(std::shared_ptr<Inode> root);

  // The node for `id`, or null if the kernel has forgotten it (or never had it).
  std::shared_ptr<Inode> Get(InodeId id) const;

  // The node already published for st_ino `key`, with its lookup count incremented; null if none.
  std::shared_ptr<Inode> FindAndRef(uint64_t key);

  // Publishes `candidate` (built outside any lock) under its st_ino with lookup count 1 and a
  // fresh id; if another thread published the same st_ino first, that node is returned with its
  // count incremented and `candidate` is dropped.
  std::shared_ptr<Inode> InsertAndRef(std::shared_ptr<Inode> candidate);

  // Increments the lookup count of a published node (create-style replies). False if the
  // kernel has forgotten it meanwhile.
  bool Ref(InodeId id);

  // Stops finding `node` by its key (its real object is gone, so a new object may get the same
  // inode number); the id stays valid until the kernel forgets it.
  void Unkey(const Inode& node);

  // Subtracts `n` lookups; erases the node at zero. Unknown ids and the root are ignored.
  void Forget(InodeId id, uint64_t n);

  // Number of published nodes, root included (a snapshot).
  size_t Size() const { return count_.load(std::memory_order_relaxed) + 1; }

  // ON_OVER runs (on the publishing thread, no lock held) when a publication takes Size() past
  // BUDGET, then not again until ReArm(). Set before the table is used; 0 disables it.
  void SetBudget(size_t budget, std::function<void()> on_over);
  void ReArm() { over_.store(false, std::memory_order_seq_cst); }

  // Up to N published nodes (never the root) not asked for since the clock last passed them,
  // oldest first within each shard; the shards take turns.
  std::vector<InodeId> PruneCandidates(size_t n);

 private:
  static constexpr unsigned kShardBits = 6;
  static constexpr size_t kShards = size_t{1} << kShardBits;

  struct Slot {
    std::shared_ptr<Inode> node;
    uint64_t nlookup = 0;
  };
  struct Shard {
    mutable std::mutex mu;
    uint64_t next_seq = 1;                          // guarded by mu
    std::unordered_map<uint64_t, Slot> by_id;       // guarded by mu
    std::unordered_map<uint64_t, uint64_t> by_key;  // st_ino -> id; guarded by mu
    std::deque<uint64_t> clock;  // ids, live and forgotten, the hand at the front; guarded by mu
  };

  static size_t ShardOfKey(uint64_t key) { return HashKey(key) & (kShards - 1); }
  static size_t ShardOf(InodeId id) { return id.value & (kShards - 1); }

  std::shared_ptr<Inode> root_;
  std::array<Shard, kShards> shards_;
  std::atomic<size_t> count_{0};  // published nodes, the root aside
  size_t budget_ = 0;
  std::function<void()> on_over_;
  std::atomic<bool> over_{false};  // ON_OVER ran and was not re-armed
  std::atomic<size_t> hand_{0};    // the shard PruneCandidates starts at
};

}  // namespace strata::core
