// Directory streams with no open: opendir answers ENOSYS, so the kernel stops sending OPENDIR
// and RELEASEDIR (two round trips per directory a walk enters) and caches listings itself
// (FOPEN_KEEP_CACHE | FOPEN_CACHE_DIR, its default without opendir; a kernel without that
// support gets an opendir reply saying so, with no handle). Each read at offset 0 (the first
// one, rewinddir) takes a listing; reads at other offsets continue the listing their offset
// names (core/dir_listing.h), so offsets are stable and telldir/seekdir work.
//
// Why at the read at offset 0: the kernel drops its cached listing when a name in the
// directory changes, by comparing a version it samples when it starts filling the cache, just
// before its read at offset 0. It holds the directory's lock shared for the read and
// exclusively for every change of a name in it, so a listing taken while serving that read is
// exactly as new as the sample, and a fill only ever takes entries of that one listing.
#include <dirent.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "fs/fuse/context.h"
#include "fs/fuse/ops.h"
#include "fs/fuse/reply.h"

namespace strata::fuse {
namespace {

bool IsDot(const std::string& name) { return name == "." || name == ".."; }

// The listing a read of directory INO at offset OFF continues: the one OFF names while it is
// kept, else a new one (read from the same index).
Result<std::shared_ptr<const core::DirListing>> ListingFor(Context& ctx, fuse_ino_t ino,
                                                           off_t off) {
  if (off != 0) {
    if (auto kept = ctx.listings.Find(ino, core::ListingOf(off))) return kept;
  }
  STRATA_ASSIGN_OR_RETURN(auto entries, ctx.fs->ReadDir(core::InodeId{ino}));
  return ctx.listings.Take(ino, std::move(entries));
}

// Fills BUF with entries of directory INO from offset OFF on. Returns the bytes used or an
// error.
Result<size_t> FillDirBuffer(fuse_req_t req, fuse_ino_t ino, off_t off, bool plus,
                             std::vector<char>& buf) {
  Context& ctx = Ctx(req);
  STRATA_ASSIGN_OR_RETURN(auto listing, ListingFor(ctx, ino, off));
  const size_t size = buf.size();
  size_t pos = 0;
  for (size_t i = core::IndexAt(off); i < listing->entries.size(); ++i) {
    const core::DirEntry& de = listing->entries[i];
    const off_t next = listing->OffsetAfter(i);
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
        if (!entry) continue;  // gone since the listing: skip, as ext4 would
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
  // Nothing left: the end, for the kernel. Not at the read that returns the last entries: the
  // kernel may use only some of them (as many as the caller's buffer takes) and read the rest
  // again.
  if (pos == 0) ctx.listings.Finish(listing->id);
  return pos;
}

void ServeReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus) {
  Serve(req, plus ? "readdirplus" : "readdir", [&](Reply& r) {
    std::vector<char> buf(size);
    auto used = FillDirBuffer(req, ino, off, plus, buf);
    if (!used) return (void)r.Err(used.error());
    r.Buf(buf.data(), *used);
    // A failed reply here loses the entries' lookup counts to the kernel's view; libfuse only
    // fails a reply when the connection is gone, when every count is moot.
  });
}

}  // namespace

void OpOpendir(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* fi) {
  Serve(req, "opendir", [&](Reply& r) {
    if (Ctx(req).no_opendir) return (void)r.Err(ENOSYS);
    // A kernel that must open directories: what it would assume without opendir, no handle.
    fi->fh = 0;
    fi->cache_readdir = 1;
    fi->keep_cache = 1;
    r.Open(*fi);
  });
}

void OpReaddir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* /*fi*/) {
  ServeReaddir(req, ino, size, off, /*plus=*/false);
}

void OpReaddirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* /*fi*/) {
  ServeReaddir(req, ino, size, off, /*plus=*/true);
}

void OpFsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* /*fi*/) {
  Serve(req, "fsyncdir", [&](Reply& r) {
    auto status = Ctx(req).fs->SyncDir(core::InodeId{ino}, datasync != 0);
    r.Err(status ? 0 : status.error().code);
  });
}

}  // namespace strata::fuse
