// Name and attribute operations: init, lookup, forget, getattr, readlink, statfs, access.
#include "fs/fuse/context.h"
#include "fs/fuse/ops.h"
#include "fs/fuse/reply.h"

namespace strata::fuse {
namespace {

core::InodeId Id(fuse_ino_t ino) { return core::InodeId{ino}; }

}  // namespace

void OpInit(void* userdata, fuse_conn_info* conn) {
  const Context& ctx = *static_cast<Context*>(userdata);
  // With default_permissions the kernel checks access itself; with this it also honours (and
  // caches) POSIX ACLs found in the layers, as fuse-overlayfs does unless -o noacl.
  if (ctx.posix_acl && (conn->capable & FUSE_CAP_POSIX_ACL)) conn->want |= FUSE_CAP_POSIX_ACL;
  // Reads go kernel <- pipe <- layer file, never through our buffers.
  if (conn->capable & FUSE_CAP_SPLICE_WRITE) conn->want |= FUSE_CAP_SPLICE_WRITE;
  if (conn->capable & FUSE_CAP_SPLICE_MOVE) conn->want |= FUSE_CAP_SPLICE_MOVE;
  // Writes are cached by the kernel and sent in batches when asked (-o writeback=1).
  if (ctx.writeback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE)) {
    conn->want |= FUSE_CAP_WRITEBACK_CACHE;
  }
  // Symlinks never change (a new target is a new symlink): targets may stay in the page cache.
  if (conn->capable & FUSE_CAP_CACHE_SYMLINKS) conn->want |= FUSE_CAP_CACHE_SYMLINKS;
  // Parallel lookups and readdirs in one directory: the core takes no directory lock.
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
}

void OpLookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Serve(req, "lookup", [&](Reply& r) {
    Context& ctx = Ctx(req);
    auto entry = ctx.fs->Lookup(Id(parent), name);
    fuse_entry_param e{};
    if (!entry) {
      if (entry.error().code != ENOENT) return (void)r.Err(entry.error());
      // A negative entry: the kernel may remember the absence as long as a name.
      e.ino = 0;
      e.entry_timeout = ctx.entry_timeout;
      r.Entry(e);
      return;
    }
    e = EntryParam(ctx, *entry);
    if (r.Entry(e) != 0) ctx.fs->Forget(entry->id, 1);  // the kernel never got it
  });
}

void OpForget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  ServeNoReply(req, "forget", [&] { Ctx(req).fs->Forget(Id(ino), nlookup); });
}

void OpForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  ServeNoReply(req, "forget_multi", [&] {
    for (size_t i = 0; i < count; ++i) Ctx(req).fs->Forget(Id(forgets[i].ino), forgets[i].nlookup);
  });
}

void OpGetattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* /*fi*/) {
  Serve(req, "getattr", [&](Reply& r) {
    auto st = Ctx(req).fs->GetAttr(Id(ino));
    if (!st) return (void)r.Err(st.error());
    r.Attr(*st, AttrTimeout(Ctx(req), Id(ino)));
  });
}

void OpReadlink(fuse_req_t req, fuse_ino_t ino) {
  Serve(req, "readlink", [&](Reply& r) {
    auto target = Ctx(req).fs->ReadLink(Id(ino));
    if (!target) return (void)r.Err(target.error());
    r.Readlink(target->c_str());
  });
}

void OpStatfs(fuse_req_t req, fuse_ino_t /*ino*/) {
  Serve(req, "statfs", [&](Reply& r) {
    auto sv = Ctx(req).fs->StatFs();
    if (!sv) return (void)r.Err(sv.error());
    r.Statfs(*sv);
  });
}

void OpAccess(fuse_req_t req, fuse_ino_t ino, int mask) {
  Serve(req, "access", [&](Reply& r) {
    const fuse_ctx* caller = fuse_req_ctx(req);
    auto status = Ctx(req).fs->Access(Id(ino), mask, core::Caller{caller->uid, caller->gid});
    r.Err(status ? 0 : status.error().code);
  });
}

}  // namespace strata::fuse
