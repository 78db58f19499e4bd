// Open file handles, and the registry that owns them. They wrap a core::FileHandle (it follows
// its node across copy-up). Directories have none: the kernel reads them without opening
// (ops_dir.cc).
//
// fi->fh carries the handle's address, so the hot path (read) needs no lookup. The
// registry owns every handle until release removes it; whatever the kernel never
// released (releases are asynchronous and may be dropped at unmount) is freed with the session.
// Sharded, so opens and releases on different handles rarely share a lock; no lock is held
// across a reply.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "fs/base/unique_fd.h"
#include "fs/core/union_fs.h"
#include "fs/fuse/passthrough.h"

namespace strata::fuse {

// An open regular file: the core's handle, and how the kernel does its I/O (passthrough.h).
struct OpenFile {
  std::unique_ptr<core::FileHandle> handle;
  IoModes::Choice mode;
};

template <typename T>
class HandleRegistry {
 public:
  // Takes ownership; returns the value for fi->fh.
  uint64_t Add(std::unique_ptr<T> handle) {
    const uint64_t fh = reinterpret_cast<uint64_t>(handle.get());
    Shard& shard = ShardOf(fh);
    std::lock_guard lock(shard.mu);
    shard.owned.emplace(fh, std::move(handle));
    return fh;
  }
  // The handle behind fi->fh; valid until Remove(fh).
  static T* Get(uint64_t fh) { return reinterpret_cast<T*>(fh); }
  // Destroys the handle (outside the shard lock: closing an fd may take a while).
  void Remove(uint64_t fh) {
    std::unique_ptr<T> doomed;
    Shard& shard = ShardOf(fh);
    std::lock_guard lock(shard.mu);
    auto it = shard.owned.find(fh);
    if (it == shard.owned.end()) return;
    doomed = std::move(it->second);
    shard.owned.erase(it);
  }

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    std::mutex mu;
    std::unordered_map<uint64_t, std::unique_ptr<T>> owned;  // guarded by mu
  };
  // Heap addresses are 16-byte aligned: skip the low bits.
  Shard& ShardOf(uint64_t fh) { return shards_[(fh >> 4) % kShards]; }
  std::array<Shard, kShards> shards_;
};

}  // namespace strata::fuse
