// KernelCache: what the core tells the kernel when something it may have cached changed in a
// way the kernel cannot know from the request it sent (fs/fuse implements it with libfuse's
// notify calls; unit tests record the calls).
//
// Every other change goes through the mount, and the kernel updates or drops what it cached
// itself (names, attributes and listings of the directories and nodes a request names, pages it
// wrote). What it cannot see is the core moving a node's data to another real file: a copy-up
// started by another node's request (a hard link's other name, an open for write while readers
// hold descriptors), which changes the real object's attributes (ctime, blocks, link count of an
// indexed copy). The data itself is unchanged by a copy-up, so cached pages stay valid and are
// kept; open handles re-resolve on their own (file_handle.h).
//
// Implementations must not block on a request the daemon has yet to answer: the core calls
// them from inside request handlers, with a node's op_mu held.
#pragma once

#include "fs/core/inode.h"

namespace strata::core {

class KernelCache {
 public:
  virtual ~KernelCache() = default;
  // The attributes cached for node ID are stale (the next stat asks the daemon again).
  virtual void InvalidateAttr(InodeId id) = 0;
};

}  // namespace strata::core
