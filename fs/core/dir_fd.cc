#include "fs/core/dir_fd.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

namespace strata::core {

std::string JoinBeneath(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (!out.empty()) out.push_back('/');
  out.append(name);
  return out;
}

UniqueFd OpenDirBeneath(int root, const std::string& path) {
  struct open_how how {};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  const char* at = path.empty() ? "." : path.c_str();
  return UniqueFd(static_cast<int>(::syscall(SYS_openat2, root, at, &how, sizeof how)));
}

size_t FdBudget::counted() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

uint64_t FdBudget::reopens() const {
  std::lock_guard lock(mu_);
  return reopens_;
}

void FdBudget::Opened(const std::shared_ptr<Slot>& slot, uint64_t gen, bool reopen) {
  std::vector<Entry> victims;
  {
    std::lock_guard lock(mu_);
    if (reopen) ++reopens_;
    queue_.push_back(Entry{slot, gen});
    while (queue_.size() > limit_) {
      victims.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
  }
  // Closed here, outside every lock (a lease in flight keeps its fd open until it ends).
  std::vector<FdLease> closing;
  for (Entry& victim : victims) {
    auto s = victim.slot.lock();
    if (!s) continue;  // its directory is gone, and its fd with it
    std::lock_guard lock(Stripe(s.get()));
    if (s->gen == victim.gen && !s->pinned) closing.push_back(std::move(s->fd));
  }
}

DirFd DirFd::Held(UniqueFd fd) {
  DirFd out;
  out.held_ = std::make_shared<const UniqueFd>(std::move(fd));
  return out;
}

DirFd DirFd::Beneath(UniqueFd fd, int root, std::string path, FdBudget* budget) {
  DirFd out = From(std::move(fd), nullptr, budget);
  out.root_ = root;
  out.path_ = std::move(path);
  return out;
}

DirFd DirFd::From(UniqueFd fd, std::shared_ptr<const Source> source, FdBudget* budget) {
  DirFd out;
  out.slot_ = std::make_shared<FdBudget::Slot>();
  out.source_ = std::move(source);
  out.budget_ = budget;
  if (fd) {
    out.slot_->fd = std::make_shared<const UniqueFd>(std::move(fd));
    out.slot_->gen = 1;
    budget->Opened(out.slot_, 1, false);
  }
  return out;
}

Result<FdLease> DirFd::Open() const {
  if (held_) return held_;
  if (!slot_) return Fail(EBADF, "open layer directory");
  std::mutex& stripe = budget_->Stripe(slot_.get());
  {
    std::lock_guard lock(stripe);
    if (slot_->fd) return slot_->fd;
  }
  UniqueFd fd;
  if (source_) {
    STRATA_ASSIGN_OR_RETURN(fd, source_->Reopen());
  } else {
    fd = OpenDirBeneath(root_, path_);
    if (!fd) return FailErrno("reopen layer directory '" + path_ + "'");
  }
  auto lease = std::make_shared<const UniqueFd>(std::move(fd));
  uint64_t gen;
  {
    std::lock_guard lock(stripe);
    if (slot_->fd) return slot_->fd;  // another caller reopened it first: ours closes
    slot_->fd = lease;
    gen = ++slot_->gen;
  }
  budget_->Opened(slot_, gen, true);
  return lease;
}

Status DirFd::Pin() const {
  if (held_) return Ok();
  STRATA_ASSIGN_OR_RETURN(FdLease lease, Open());
  std::lock_guard lock(budget_->Stripe(slot_.get()));
  // Closed since Open (by the budget): this lease is as good, and stays.
  if (!slot_->fd) slot_->fd = std::move(lease);
  slot_->pinned = true;
  return Ok();
}

}  // namespace strata::core
