// DirFd: the O_PATH fd of one real directory of a merged directory, and FdBudget, which bounds
// how many of them are open.
//
// A layer root's fd is held for as long as the DirFd lives. Any other directory's fd is a
// cache, opened again when needed and closed by the budget when more than its limit of such
// fds are open, oldest opened first:
// - a lower directory's layer never changes, so it is reopened from the layer root by its
//   path beneath it (openat2 with RESOLVE_BENEATH, no symlinks);
// - an upper directory moves with renames, so a Source that knows its node reopens it by the
//   node's current name in its parent's upper directory, checking that it is the same one.
//   One that is about to lose its last name (rmdir, rename over it) is pinned first: its fd
//   then stays open for the DirFd's life, as it could not be reopened.
// A lease (FdLease) keeps the fd it names open while it is used, so an fd is never closed
// under a running call; the budget may be exceeded by the leases in flight.
//
// Thread-safety: DirFd is immutable once made except for its cached fd, which every copy of
// it shares and which one of the budget's stripe locks guards; all methods may be called
// concurrently. No lock is held while a Source reopens, so a Source may open other DirFds. A
// DirFd must not outlive the LayerStack whose root it names, nor its budget.
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
// Directory PATH ("" for ROOT itself) beneath ROOT, reached without symlinks or "..": an
// O_PATH fd, or an empty one with errno set (ENOENT, ENOTDIR, ELOOP, EXDEV, ...).
UniqueFd OpenDirBeneath(int root, const std::string& path);

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
    uint64_t gen = 0;     // bumped at each open, so a stale queue entry never closes a newer fd
    bool pinned = false;  // never closed by the budget again
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
  // How a directory's fd is opened again (an upper directory's: by its node's current name).
  class Source {
   public:
    virtual ~Source() = default;
    virtual Result<UniqueFd> Reopen() const = 0;
  };

  DirFd() = default;
  // An fd held for the DirFd's life.
  static DirFd Held(UniqueFd fd);
  // A lower directory at PATH beneath layer root ROOT, whose fd FD (open now) BUDGET may close
  // and Open reopens.
  static DirFd Beneath(UniqueFd fd, int root, std::string path, FdBudget* budget);
  // A directory whose fd FD (open now) BUDGET may close and SOURCE reopens.
  static DirFd From(UniqueFd fd, std::shared_ptr<const Source> source, FdBudget* budget);

  // The fd, opened again if the budget closed it. Errors: the reopen's (EMFILE; for a lower
  // directory ENOENT/ENOTDIR/ELOOP if its layer was changed behind the mount; the Source's).
  Result<FdLease> Open() const;
  // Opens the fd and keeps it open from now on. Errors: Open's.
  Status Pin() const;
  // The directory's path beneath its layer root: "" for a root; unused for upper directories.
  const std::string& path() const { return path_; }

 private:
  FdLease held_;
  std::shared_ptr<FdBudget::Slot> slot_;  // reopenable: shared by every copy
  std::shared_ptr<const Source> source_;  // null: beneath root_ at path_
  int root_ = -1;
  std::string path_;
  FdBudget* budget_ = nullptr;
};

}  // namespace strata::core
