// Keeps the nodes the kernel holds, and with them the daemon's memory, near a budget: past it
// the kernel is asked to drop nodes it is not using (FUSE_NOTIFY_PRUNE, protocol 7.45, Linux
// 6.18+; it keeps an inode with an open file, a cwd, a mapping or cached children), the least
// recently asked for first (core::InodeTable::PruneCandidates), and its forgets free them.
// A pruned name costs one LOOKUP when it is next used; nothing else changes: the kernel may drop
// any unused node under memory pressure as well, and identities (st_ino) do not depend on the
// node.
//
// One thread, woken by the table when a publication passes the budget; it prunes down to 7/8
// of it, giving the kernel's forgets a moment between rounds, and rests a second when the
// kernel keeps what it was asked to drop (everything in use). It writes to the session's
// /dev/fuse descriptor, never from a request handler.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <span>
#include <thread>

#include "fs/core/union_fs.h"

namespace strata::fuse {

class NodePruner {
 public:
  // Prunes FS's nodes beyond BUDGET through DEV_FD once KERNEL_OK (set at INIT) is true.
  NodePruner(core::UnionFs& fs, int dev_fd, size_t budget, const std::atomic<bool>& kernel_ok);
  // Stops the thread (idempotent); call it while the session's descriptor is open. The
  // table's hook stays valid until destruction, so workers may still publish nodes.
  void Stop();
  ~NodePruner();  // Stop(), then the table no longer calls
  NodePruner(const NodePruner&) = delete;
  NodePruner& operator=(const NodePruner&) = delete;

 private:
  void Run();
  void PruneRounds();
  // One FUSE_NOTIFY_PRUNE message; false if the kernel refused it (then pruning stops).
  bool Send(std::span<const core::InodeId> ids);
  // Waits up to MS milliseconds; false if stopping.
  bool Rest(int ms);

  core::UnionFs& fs_;
  const int dev_fd_;
  const size_t budget_;
  const std::atomic<bool>& kernel_ok_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool signalled_ = false;  // guarded by mu_
  bool stop_ = false;       // guarded by mu_
  bool refused_ = false;    // the kernel refused a prune: pruning stopped (the thread's own)
  std::thread thread_;
};

}  // namespace strata::fuse
