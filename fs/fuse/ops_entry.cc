// Name and attribute operations: init, lookup, forget, getattr, readlink, statfs, access.
#include <ios>

#include "fs/base/log.h"
#include "fs/fuse/context.h"
#include "fs/fuse/ops.h"
#include "fs/fuse/reply.h"

namespace strata::fuse {
namespace {

core::InodeId Id(fuse_ino_t ino) { return core::InodeId{ino}; }

// Asks for a capability if the kernel offers it.
void Want(fuse_conn_info* conn, uint64_t cap) {
#if STRATA_FUSE_HAS_FEATURE_FLAGS
  (void)fuse_set_feature_flag(conn, cap);
#else
  if (conn->capable & cap) conn->want |= static_cast<unsigned>(cap);
#endif
}

void Unwant(fuse_conn_info* conn, uint64_t cap) {
#if STRATA_FUSE_HAS_FEATURE_FLAGS
  fuse_unset_feature_flag(conn, cap);
#else
  conn->want &= ~static_cast<unsigned>(cap);
#endif
}

}  // namespace

// Every capability the handlers depend on is asked for here, not left to libfuse's defaults
// (which differ between versions: 3.17+ turns some off, 3.14 drops some from its reply).
void OpInit(void* userdata, fuse_conn_info* conn) {
  Context& ctx = *static_cast<Context*>(userdata);
  // Reads of one file may overlap; open(O_TRUNC) is handled by OpOpen; the kernel drops cached
  // pages of a file whose mtime or size changed under it (a copy-up never changes either).
  Want(conn, FUSE_CAP_ASYNC_READ);
  Want(conn, FUSE_CAP_ATOMIC_O_TRUNC);
  Want(conn, FUSE_CAP_AUTO_INVAL_DATA);
  Want(conn, FUSE_CAP_ASYNC_DIO);
  Want(conn, FUSE_CAP_IOCTL_DIR);
  // Listings carry attributes when the kernel wants them (a walk after a listing: no lookups).
  Want(conn, FUSE_CAP_READDIRPLUS);
  Want(conn, FUSE_CAP_READDIRPLUS_AUTO);
  // With default_permissions the kernel checks access itself; with this it also honours (and
  // caches) POSIX ACLs found in the layers, as fuse-overlayfs does unless -o noacl.
  if (ctx.posix_acl) Want(conn, FUSE_CAP_POSIX_ACL);
  // Read replies go kernel <- pipe <- layer file, never through our buffers. Requests are not
  // received by splice: with libfuse 3.18 that costs a pipe round for every request (strata
  // bench: untar and small-file reads 1.2x, new-file fio 1.4x slower with it), and big writes
  // showed no gain beyond the noise (bench/results/levers).
  Unwant(conn, FUSE_CAP_SPLICE_READ);
  Want(conn, FUSE_CAP_SPLICE_WRITE);
  Want(conn, FUSE_CAP_SPLICE_MOVE);
  // Writes are cached by the kernel and sent in batches when asked (-o writeback=1).
  if (ctx.writeback) Want(conn, FUSE_CAP_WRITEBACK_CACHE);
  // Symlinks never change (a new target is a new symlink): targets may stay in the page cache.
  Want(conn, FUSE_CAP_CACHE_SYMLINKS);
  // Lookups, listings and creates in one directory in parallel: the core orders them with its
  // per-directory names lock (shared for lookups and listings). libfuse 3.14 drops this flag
  // from its INIT reply, so the kernel serialises them there anyway.
  Want(conn, FUSE_CAP_PARALLEL_DIROPS);
  // The kernel strips setuid/setgid bits (by setattr) and security.capability (it asks for the
  // xattr before a write) itself: the handlers do not.
  Unwant(conn, FUSE_CAP_HANDLE_KILLPRIV);
#ifdef FUSE_CAP_HANDLE_KILLPRIV_V2
  Unwant(conn, FUSE_CAP_HANDLE_KILLPRIV_V2);
#endif
#ifdef FUSE_CAP_OVER_IO_URING
  // Requests and replies through per-CPU rings instead of read/write of /dev/fuse: fewer
  // system calls and context switches (strata bench: 1.21x faster than /dev/fuse overall,
  // warm walks 2.1x, untar 1.9x). The kernel offers it only when enable_uring is on.
  if (ctx.io_uring) {
    if (conn->capable_ext & FUSE_CAP_OVER_IO_URING) {
      Want(conn, FUSE_CAP_OVER_IO_URING);
    } else if (ctx.io_uring_asked) {
      STRATA_LOG(kWarn) << "io_uring: the kernel does not offer FUSE over io_uring (needs "
                           "Linux 6.14+ with /sys/module/fuse/parameters/enable_uring = 1); "
                           "serving over /dev/fuse";
    }
  } else {
    Unwant(conn, FUSE_CAP_OVER_IO_URING);
  }
#endif
#if STRATA_FUSE_HAS_PASSTHROUGH
  // The kernel reads and writes settled files (upper ones; all of a read-only union) from
  // the real file itself (passthrough.h). Backing files must not be on a stacked filesystem
  // (max_backing_stack_depth 0), so the mount itself can still be an overlayfs lower layer.
  if (ctx.passthrough && fuse_set_feature_flag(conn, FUSE_CAP_PASSTHROUGH)) {
    conn->max_backing_stack_depth = 0;
    ctx.io_modes.Enable();
  } else {
    Unwant(conn, FUSE_CAP_PASSTHROUGH);
  }
#endif
#if STRATA_FUSE_HAS_FEATURE_FLAGS
  const uint64_t offered = conn->capable_ext, wanted = conn->want_ext;
#else
  const uint64_t offered = conn->capable, wanted = conn->want;
#endif
  // Directories read without OPENDIR/RELEASEDIR once opendir answers ENOSYS (ops_dir.cc), on
  // every kernel since 5.1.
  ctx.no_opendir = (offered & FUSE_CAP_NO_OPENDIR_SUPPORT) != 0;
  // FUSE_NOTIFY_PRUNE came with protocol 7.45 (Linux 6.18).
  const bool can_prune =
      conn->proto_major > 7 || (conn->proto_major == 7 && conn->proto_minor >= 45);
  if (ctx.max_nodes != 0 && !can_prune) {
    STRATA_LOG(kWarn) << "max_nodes: this kernel (FUSE " << conn->proto_major << "."
                      << conn->proto_minor << ") cannot be asked to drop nodes (7.45, Linux "
                      << "6.18+, can); the daemon's nodes are not bounded";
  }
  ctx.can_prune.store(can_prune, std::memory_order_release);
  STRATA_LOG(kDebug) << "init: capabilities wanted 0x" << std::hex << wanted << " of 0x" << offered
                     << " offered (libfuse FUSE_CAP_* bits)";
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
