// FileHandle: one open of a regular file, what the kernel's file handle (fi->fh) stands for.
//
// A handle follows its node. The real file behind a node changes when a lower file is copied
// up (Inode::data_gen is bumped then); UnionFs::HandleFd compares the node's generation with
// the one the handle's descriptor was opened at and, if the node moved, reopens the node's
// current real file with the handle's flags before the I/O. So a descriptor opened before a
// copy-up (by another descriptor or through another hard link) reads, seeks, syncs and copies
// the current data, as on kernel overlayfs (4.19+). Reopening happens at most once per copy-up
// and handle; the fast path is two atomic loads.
//
// The handle owns every descriptor it opened until it is destroyed (at release): a thread
// still doing I/O on the previous descriptor keeps a valid one. It shares the node, so the
// node, and through its Placement the real object, outlive every open file of it (an unlinked
// file stays usable until its last close).
//
// A handle opened on an upper file (or on any file of a union without an upper layer) is
// settled: its real file is the node's for good, since only a copy-up moves a node's data and
// nothing moves it out of the upper layer. The kernel may then serve its I/O from the real file
// itself (FUSE passthrough, fs/fuse/passthrough.h); an unsettled one must come here.
//
// Thread-safety: HandleFd may run concurrently on one handle from any number of threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "fs/base/unique_fd.h"
#include "fs/core/inode.h"

namespace strata::core {

class UnionFs;

class FileHandle {
 public:
  FileHandle(std::shared_ptr<Inode> node, int flags, UniqueFd fd, uint32_t gen, bool settled)
      : node_(std::move(node)), flags_(flags), settled_(settled), fd_(fd.Get()), gen_(gen) {
    fds_.push_back(std::move(fd));
  }
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;

  InodeId id() const { return node_->id; }
  int flags() const { return flags_; }
  bool settled() const { return settled_; }

 private:
  friend class UnionFs;

  const std::shared_ptr<Inode> node_;
  const int flags_;            // open(2) flags as the real file was opened, O_TRUNC excepted
  const bool settled_;         // the real file never changes (see above)
  std::atomic<int> fd_;        // the current descriptor (one of fds_)
  std::atomic<uint32_t> gen_;  // node_->data_gen when fd_ was opened; stored after fd_
  std::mutex mu_;              // serialises reopening
  std::vector<UniqueFd> fds_;  // guarded by mu_ (after construction)
};

}  // namespace strata::core
