// Per-session state the op handlers reach through fuse_req_userdata(): the union, the cache
// policy (immutable once the session starts), the open files and the listings being read
// (internally synchronised).
#pragma once

#include <atomic>

#include "fs/core/dir_listing.h"
#include "fs/core/union_fs.h"
#include "fs/fuse/fuse_api.h"
#include "fs/fuse/handles.h"

namespace strata::fuse {

// Entries of the directory listings the session keeps (core/dir_listing.h): 128Ki, some
// 8 MiB, beyond the most recent listing of each of the cache's shards.
inline constexpr size_t kListingBudget = size_t{1} << 17;

struct Context {
  core::UnionFs* fs = nullptr;
  double entry_timeout = 0;     // seconds the kernel may cache names (and negative lookups)
  double attr_timeout = 0;      // seconds the kernel may cache attributes
  bool posix_acl = true;        // let the kernel enforce (and cache) POSIX ACLs
  bool writeback = false;       // kernel writeback cache: it may read through write-only handles
  bool io_uring = false;        // FUSE over io_uring when the kernel offers it
  bool io_uring_asked = false;  // -o io_uring: warn when it is not offered
  bool passthrough = false;     // FUSE passthrough for settled files, if the kernel grants it
  int dev_fd = -1;              // the session's /dev/fuse descriptor (backing-file ioctls)
  bool no_opendir = false;      // set at INIT: the kernel reads directories unopened
  size_t max_nodes = 0;         // the node budget (node_pruner.h); 0: none
  std::atomic<bool> can_prune{false};  // set at INIT: the kernel drops nodes when asked
  IoModes io_modes;                    // enabled at INIT if passthrough is granted
  HandleRegistry<OpenFile> files;
  core::DirListings listings{kListingBudget};  // what streams read (ops_dir.cc)
};

inline Context& Ctx(fuse_req_t req) { return *static_cast<Context*>(fuse_req_userdata(req)); }

// The open regular file FI stands for (fi->fh from open or create).
inline OpenFile& OpenFileOf(const fuse_file_info* fi) {
  return *HandleRegistry<OpenFile>::Get(fi->fh);
}

// How long the kernel may cache the attributes of node ID: the configured time, or not at all
// for the hard-linked files of a writable mount (core::UnionFs::KernelMayCacheAttr).
inline double AttrTimeout(const Context& ctx, core::InodeId id) {
  return ctx.fs->KernelMayCacheAttr(id) ? ctx.attr_timeout : 0;
}

// The reply for an entry handed to the kernel (lookup, create, mknod-style ops, readdirplus).
inline fuse_entry_param EntryParam(const Context& ctx, const core::Entry& entry) {
  fuse_entry_param e{};
  e.ino = entry.id.value;
  e.attr = entry.attr;
  e.attr_timeout = AttrTimeout(ctx, entry.id);
  e.entry_timeout = ctx.entry_timeout;
  return e;
}

}  // namespace strata::fuse
