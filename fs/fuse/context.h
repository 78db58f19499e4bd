// Per-session state the op handlers reach through fuse_req_userdata(): the union, the cache
// policy (immutable once the session starts) and the open handles (internally synchronised).
#pragma once

#include "fs/core/union_fs.h"
#include "fs/fuse/fuse_api.h"
#include "fs/fuse/handles.h"

namespace strata::fuse {

struct Context {
  core::UnionFs* fs = nullptr;
  double entry_timeout = 0;  // seconds the kernel may cache names (and negative lookups)
  double attr_timeout = 0;   // seconds the kernel may cache attributes
  bool posix_acl = true;     // let the kernel enforce (and cache) POSIX ACLs
  bool writeback = false;    // kernel writeback cache: it may read through write-only handles
  HandleRegistry<core::FileHandle> files;
  HandleRegistry<DirHandle> dirs;
};

inline Context& Ctx(fuse_req_t req) { return *static_cast<Context*>(fuse_req_userdata(req)); }

}  // namespace strata::fuse
