#include "fs/fuse/node_pruner.h"

#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "fs/base/log.h"

namespace strata::fuse {
namespace {

// The kernel's wire format (include/uapi/linux/fuse.h, 7.45); libfuse 3.18 has no call for it.
constexpr int32_t kNotifyPrune = 9;  // FUSE_NOTIFY_PRUNE
struct OutHeader {                   // struct fuse_out_header
  uint32_t len;
  int32_t error;  // a notification's code
  uint64_t unique;
};
struct PruneOut {  // struct fuse_notify_prune_out
  uint32_t count;
  uint32_t padding;
  uint64_t spare;
};
static_assert(sizeof(core::InodeId) == sizeof(uint64_t));

// Ids a message names: the kernel reads them 512 at a time.
constexpr size_t kBatch = 4096;
// Rounds in a row that freed nothing before the pruner rests.
constexpr int kStalledRounds = 8;

}  // namespace

NodePruner::NodePruner(core::UnionFs& fs, int dev_fd, size_t budget,
                       const std::atomic<bool>& kernel_ok)
    : fs_(fs), dev_fd_(dev_fd), budget_(budget), kernel_ok_(kernel_ok) {
  fs_.SetNodeBudget(budget_, [this] {
    std::lock_guard lock(mu_);
    signalled_ = true;
    cv_.notify_one();
  });
  thread_ = std::thread([this] { Run(); });
}

void NodePruner::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

NodePruner::~NodePruner() {
  Stop();
  fs_.SetNodeBudget(0, nullptr);
}

void NodePruner::Run() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_ || signalled_; });
      if (stop_) return;
      signalled_ = false;
    }
    // Not re-armed if the kernel cannot prune: the table stops calling.
    if (refused_ || !kernel_ok_.load(std::memory_order_acquire)) continue;
    // Re-armed before the count is read: a publication after this point signals again.
    fs_.ReArmNodeBudget();
    PruneRounds();
  }
}

void NodePruner::PruneRounds() {
  const size_t low = budget_ - budget_ / 8;
  int stalled = 0;
  while (fs_.InodeCount() > low) {
    const size_t before = fs_.InodeCount();
    const std::vector<core::InodeId> ids = fs_.PruneCandidates(std::min(before - low, kBatch));
    STRATA_LOG(kDebug) << "prune: " << before << " nodes, asking " << ids.size();
    // None: every node was asked for since the hand passed it; the next sweep may find some.
    if (!ids.empty() && !Send(ids)) return;
    // The kernel evicts while it handles the message; its forgets reach the workers after.
    if (!Rest(2)) return;
    stalled = fs_.InodeCount() < before ? 0 : stalled + 1;
    if (stalled >= kStalledRounds) {
      (void)Rest(1000);
      return;
    }
  }
}

bool NodePruner::Send(std::span<const core::InodeId> ids) {
  PruneOut out{static_cast<uint32_t>(ids.size()), 0, 0};
  OutHeader header{static_cast<uint32_t>(sizeof(OutHeader) + sizeof(out) + ids.size_bytes()),
                   kNotifyPrune, 0};
  iovec iov[3] = {{&header, sizeof(header)},
                  {&out, sizeof(out)},
                  {const_cast<core::InodeId*>(ids.data()), ids.size_bytes()}};
  if (writev(dev_fd_, iov, 3) >= 0) return true;
  const int err = errno;
  refused_ = true;
  if (err != ENODEV) {  // ENODEV: unmounted meanwhile
    STRATA_LOG(kWarn) << "max_nodes: the kernel refused to prune nodes (" << std::strerror(err)
                      << "); the daemon's nodes are no longer bounded";
  }
  return false;
}

bool NodePruner::Rest(int ms) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_; });
}

}  // namespace strata::fuse
