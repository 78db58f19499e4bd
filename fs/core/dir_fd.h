// DirFd: the O_PATH fd of one real directory of a merged directory, and FdBudget, which bounds
// how many of them are open.
//
// An upper directory's fd (and a layer root's) is held for as long as the DirFd lives: the
// upper changes, and a held fd follows its directory through renames. A lower directory's
// layer never changes, so its fd is a cache: opened again from the layer root by the
// directory's path beneath it when needed (openat2 with RESOLVE_BENEATH, no symlinks), and
// closed by the budget when more than its limit of such fds are open, oldest opened first.
// A lease (FdLease) keeps the fd it names open while it is used, so an fd is never closed
// under a running call; the budget may be exceeded by the leases in flight.
//
// Thread-safety: DirFd is immutable once made except for its cached fd, which every copy of
// it shares and which one of the budget's stripe locks guards; all methods may be called
// concurrently. A DirFd must not outlive the LayerStack whose root it names, nor its budget.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "fs/base/status.h"
#include "fs/base/unique_fd.h"

namespace strata::core {

// An open fd, kept open while a copy of the lease lives.
using FdLease = std::shared_ptr<const UniqueFd>;

// "DIR/NAME" for paths beneath a layer root ("" is the root itself).
std::string JoinBeneath(std::string_view dir, std::string_view name);

class FdBudget {
 public:
  // LIMIT: how many reopenable fds may stay open (at least 1).
  explicit FdBudget(size_t limit) : limit_(limit == 0 ? 1 : limit) {}
  FdBudget(const FdBudget&) = delete;
  FdBudget& operator=(const FdBudget&) = delete;

  size_t limit() const { return limit_; }
  // Reopenable fds currently counted against the budget (a closed one's entry may linger until
  // it is pushed out: an upper bound).
  size_t counted() const;
  // Times an fd was opened again after the budget had closed it.
  uint64_t reopens() const;

 private:
  friend class DirFd;
  struct Slot {  // guarded by Stripe(this)
    FdLease fd;
    uint64_t gen = 0;  // bumped at each open, so a stale queue entry never closes a newer fd
  };
  struct Entry {
    std::weak_ptr<Slot> slot;
    uint64_t gen = 0;
  };

  std::mutex& Stripe(const Slot* slot) {
    return stripes_[(reinterpret_cast<uintptr_t>(slot) >> 6) % stripes_.size()];
  }
  // Records that SLOT now holds an open fd of generation GEN (REOPEN: not its first); closes
  // the oldest beyond the limit.
  void Opened(const std::shared_ptr<Slot>& slot, uint64_t gen, bool reopen);

  const size_t limit_;
  mutable std::mutex mu_;  // guards queue_ and reopens_; never held while taking a stripe
  std::deque<Entry> queue_;
  uint64_t reopens_ = 0;
  std::array<std::mutex, 64> stripes_;
};

class DirFd {
 public:
  DirFd() = default;
  // An fd held for the DirFd's life.
  static DirFd Held(UniqueFd fd);
  // A lower directory at PATH beneath layer root ROOT, whose fd FD (open now) BUDGET may close
  // and Open reopens.
  static DirFd Reopenable(UniqueFd fd, int root, std::string path, FdBudget* budget);

  // The fd, opened again if the budget closed it. Errors: openat2's (EMFILE, or ENOENT/ENOTDIR
  // if the layer was changed behind the mount).
  Result<FdLease> Open() const;
  // A held fd (upper directories, layer roots): always open. -1 for a reopenable one.
  int HeldFd() const { return held_ ? held_->Get() : -1; }
  bool held() const { return held_ != nullptr; }
  // The directory's path beneath its layer root: "" for a root, and for upper directories
  // (held, never reopened by path).
  const std::string& path() const { return path_; }

 private:
  FdLease held_;
  std::shared_ptr<FdBudget::Slot> slot_;  // reopenable: shared by every copy
  int root_ = -1;
  std::string path_;
  FdBudget* budget_ = nullptr;
};

}  // namespace strata::core
