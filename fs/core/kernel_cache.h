// KernelCache: what the core tells the kernel when something it may have cached changed in a
// way the kernel cannot know from the request it sent (fs/fuse implements it with libfuse's
// notify calls; unit tests record the calls).
//
// Every other change goes through the mount, and the kernel updates or drops what it cached
// itself (names, attributes and listings of the directories and nodes a request names, pages it
// wrote). What it cannot see:
// - a copy-up, which changes the real object's attributes (ctime, blocks, the link count of an
//   indexed copy) but not its data, so cached pages stay valid and are kept (open handles
//   re-resolve on their own, file_handle.h);
// - the link count of a file after link(2): the kernel takes it from the reply, but skips that
//   reply's attributes if a concurrent reply about the file (readdirplus or lookup of another
//   name, getattr) was applied meanwhile, which may predate the link. (After unlink or rename
//   over a name the kernel counts down a cached value that such a reply may already have
//   counted down; so the kernel is never let cache the attributes of a file that has had
//   several links on a writable mount: UnionFs::KernelMayCacheAttr.)
//
// The core calls these from inside request handlers, with a node's op_mu held, and only for
// nodes the request holds, so the kernel's inode is live: implementations must not block on a
// request the daemon has yet to answer.
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
