// FUSE passthrough (Linux 6.9+, libfuse 3.17+): the kernel serves read, write, splice and mmap
// of an open file from a backing file the daemon registered, without a request per I/O.
//
// When. Only a settled handle (core::FileHandle::settled: an upper file, or any file of a
// union without an upper layer) is opened in passthrough: the kernel binds an open file to its
// backing file for good, and a lower file opened for reading must follow a later copy-up
// (coherence). Every other open stays in the cached mode, served here.
//
// The kernel's rules, which IoModes keeps (fs/fuse/iomode.c): an inode is at any time either
// in cached mode (opens without passthrough) or in passthrough mode with one backing file;
// an open that does not fit fails with EIO. So per node: a passthrough open is made only while
// no cached open is live, and shares the backing file of the node's other passthrough opens;
// while a cached open is live, settled handles are opened cached too. The counts here are
// raised before the open reply and lowered at release, which the kernel sends after it dropped
// the file: they never fall below the kernel's own, so the choice never conflicts with it.
// The backing file is unregistered when the node's last passthrough open is released.
//
// Registering needs CAP_SYS_ADMIN: the first EPERM turns passthrough off for the session.
// Other failures (a backing file on a stacked filesystem: ELOOP) fall back to cached mode for
// that open only.
//
// Thread-safety: all methods may be called concurrently; sharded by node.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>

namespace strata::fuse {

class IoModes {
 public:
  // Registers FD as a backing file: the backing id (> 0) or -errno.
  using OpenBacking = std::function<int(int fd)>;
  // Unregisters a backing id.
  using CloseBacking = std::function<void(int id)>;

  // The mode of one open: a backing id for passthrough, or 0 for cached.
  struct Choice {
    int backing_id = 0;
  };

  // Passthrough is off until Enable (the kernel granted it at INIT).
  void Enable() { enabled_.store(true, std::memory_order_relaxed); }
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }

  // Chooses the mode of a new open of node NODE; SETTLED as FileHandle::settled, FD its
  // descriptor, registered with OPEN if it is to back the node. Every Choose is paired with
  // one Release (also when the open reply fails), which unregisters with CLOSE.
  Choice Choose(uint64_t node, bool settled, int fd, const OpenBacking& open);
  void Release(uint64_t node, Choice choice, const CloseBacking& close);

 private:
  struct Node {
    int cached = 0;       // live cached opens
    int passthrough = 0;  // live passthrough opens, all on backing_id
    int backing_id = 0;
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<uint64_t, Node> nodes;  // guarded by mu; only nodes with live opens
  };
  static constexpr size_t kShards = 16;
  Shard& ShardOf(uint64_t node) { return shards_[node % kShards]; }
  // OPEN(FD): the backing id, or 0 after saying why not (EPERM turns passthrough off).
  int Register(int fd, const OpenBacking& open);

  std::atomic<bool> enabled_{false};
  std::atomic<bool> warned_{false};
  std::array<Shard, kShards> shards_;
};

// The kernel's backing-file registry, through the FUSE device DEV_FD (the ioctls of
// <linux/fuse.h> 7.40, which Debian 12's headers predate): the id, or -errno.
int RegisterBackingFile(int dev_fd, int fd);
void UnregisterBackingFile(int dev_fd, int backing_id);

}  // namespace strata::fuse
