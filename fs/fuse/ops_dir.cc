// Directory streams: every read at offset 0 (the first one, rewinddir) takes a snapshot of the
// merged listing; readdir and readdirplus serve it by index, so offsets are stable and
// telldir/seekdir work. The offset after entry i is (snapshot id << 32) | (i + 1), the id
// unique among the mount's recent snapshots.
//
// Why the id: the kernel's cached listing of a directory is filled by whichever stream reads
// at the position the cache has reached, so it takes an offset to name the same entry in every
// stream (as ext4's hash cookies do). With bare indexes a stream still reading an older
// snapshot would append its entries to a fill started from a newer one, and the cache would
// keep a name that is gone. With the id, a fill only ever takes entries of one snapshot.
//
// Why not at opendir: the kernel caches listings (cache_readdir) and drops its cache when a
// name in the directory changes, by comparing a version it samples when it starts filling the
// cache, just before its read at offset 0. A snapshot taken at opendir could predate a change
// that the kernel's sample already includes, and the stale listing would then be cached as
// current. The kernel holds the directory's lock shared for the read and exclusively for every
// change of a name in it, so a snapshot taken while serving the read is exactly as new as the
// sample.
#include <dirent.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "fs/fuse/context.h"
#include "fs/fuse/ops.h"
#include "fs/fuse/reply.h"

namespace strata::fuse {
namespace {

DirHandle* Handle(const fuse_file_info* fi) { return HandleRegistry<DirHandle>::Get(fi->fh); }

bool IsDot(const std::string& name) { return name == "." || name == ".."; }

constexpr unsigned kIndexBits = 32;
constexpr uint64_t kIndexMask = (uint64_t{1} << kIndexBits) - 1;

// A fresh snapshot id: 31 bits, never 0, so offsets stay positive and nonzero.
uint64_t NextSnapshotId() {
  static std::atomic<uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed) % ((uint64_t{1} << 31) - 1) + 1;
}

off_t OffsetAfter(const DirHandle& dh, size_t index) {
  return static_cast<off_t>(dh.snapshot << kIndexBits | (index + 1));
}

// Fills BUF with entries of the handle from OFF on. Returns the bytes used or an error.
Result<size_t> FillDirBuffer(fuse_req_t req, fuse_ino_t ino, off_t off, bool plus, DirHandle* dh,
                             std::vector<char>& buf) {
  Context& ctx = Ctx(req);
  std::lock_guard lock(dh->mu);
  if (off == 0 || dh->snapshot == 0) {
    STRATA_ASSIGN_OR_RETURN(dh->entries, ctx.fs->ReadDir(core::InodeId{ino}));
    dh->snapshot = NextSnapshotId();
  }
  // An offset of another snapshot (seekdir across a rewind) resumes at its index in this one,
  // as in a directory that changed meanwhile.
  const size_t start = static_cast<size_t>(static_cast<uint64_t>(off) & kIndexMask);
  const size_t size = buf.size();
  size_t pos = 0;
  for (size_t i = start; i < dh->entries.size(); ++i) {
    const core::DirEntry& de = dh->entries[i];
    const off_t next = OffsetAfter(*dh, i);
    size_t need;
    if (!plus) {
      struct stat st {};
      st.st_ino = de.ino;
      st.st_mode = static_cast<mode_t>(DTTOIF(de.d_type));
      need = fuse_add_direntry(req, buf.data() + pos, size - pos, de.name.c_str(), &st, next);
      if (need > size - pos) break;
    } else {
      fuse_entry_param e{};
      core::InodeId looked_up{0};
      if (IsDot(de.name)) {
        // The kernel takes no reference for "." and "..": hand out no lookup count.
        e.attr.st_ino = de.ino;
        e.attr.st_mode = static_cast<mode_t>(DTTOIF(de.d_type));
      } else {
        auto entry = ctx.fs->LookupListed(core::InodeId{ino}, de);
        if (!entry) continue;  // gone since the snapshot: skip, as ext4 would
        looked_up = entry->id;
        e = EntryParam(ctx, *entry);
      }
      need = fuse_add_direntry_plus(req, buf.data() + pos, size - pos, de.name.c_str(), &e, next);
      if (need > size - pos) {
        if (looked_up.value != 0) ctx.fs->Forget(looked_up, 1);  // not handed out
        break;
      }
    }
    pos += need;
  }
  return pos;
}

void ServeReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi,
                  bool plus) {
  Serve(req, plus ? "readdirplus" : "readdir", [&](Reply& r) {
    std::vector<char> buf(size);
    // The handle lock is released before replying: once the reply is out, the kernel may
    // release the handle from another thread.
    auto used = FillDirBuffer(req, ino, off, plus, Handle(fi), buf);
    if (!used) return (void)r.Err(used.error());
    r.Buf(buf.data(), *used);
    // A failed reply here loses the entries' lookup counts to the kernel's view; libfuse only
    // fails a reply when the connection is gone, when every count is moot.
  });
}

}  // namespace

void OpOpendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Serve(req, "opendir", [&](Reply& r) {
    if (Status s = Ctx(req).fs->OpenDir(core::InodeId{ino}); !s) return (void)r.Err(s.error());
    fi->fh = Ctx(req).dirs.Add(std::make_unique<DirHandle>());
    // Every change goes through this mount, which tells the kernel (it drops a directory's
    // cached listing when it creates or removes a name in it): cached listings stay valid.
    fi->cache_readdir = 1;
    fi->keep_cache = 1;
    if (r.Open(*fi) != 0) Ctx(req).dirs.Remove(fi->fh);
  });
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  ServeReaddir(req, ino, size, off, fi, /*plus=*/false);
}

void OpReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  ServeReaddir(req, ino, size, off, fi, /*plus=*/true);
}

void OpReleasedir(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* fi) {
  Serve(req, "releasedir", [&](Reply& r) {
    Ctx(req).dirs.Remove(fi->fh);
    r.Err(0);
  });
}

void OpFsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* /*fi*/) {
  Serve(req, "fsyncdir", [&](Reply& r) {
    auto status = Ctx(req).fs->SyncDir(core::InodeId{ino}, datasync != 0);
    r.Err(status ? 0 : status.error().code);
  });
}

}  // namespace strata::fuse
