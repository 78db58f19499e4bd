// File data: open and create hand back a core::FileHandle; every operation on it asks the core
// for the descriptor to use now (the node's current real file, reopened after a copy-up), then
// reads are spliced from it and writes spliced into it. Settled files are opened in FUSE
// passthrough when the kernel grants it (passthrough.h): their reads and writes never come here.
#include <fcntl.h>
#include <unistd.h>

#include "fs/fuse/context.h"
#include "fs/fuse/ops.h"
#include "fs/fuse/reply.h"

namespace strata::fuse {
namespace {

core::FileHandle& Handle(const fuse_file_info* fi) { return *OpenFileOf(fi).handle; }

// The descriptor for FI's I/O, or the errno of reopening it.
Result<int> Fd(fuse_req_t req, const fuse_file_info* fi) {
  return Ctx(req).fs->HandleFd(Handle(fi));
}

// With the writeback cache the kernel reads through write-only handles (to fill pages) and
// appends by itself: open the real file readable and without O_APPEND.
int RealFlags(const Context& ctx, int flags) {
  if (!ctx.writeback) return flags;
  if ((flags & O_ACCMODE) == O_WRONLY) flags = (flags & ~O_ACCMODE) | O_RDWR;
  return flags & ~O_APPEND;
}

// Makes HANDLE the open file FI stands for, in the I/O mode passthrough.h chooses.
// Files change only through this mount (the kernel updates its cache as it writes), and a
// copy-up keeps the data: cached pages stay valid. A passthrough open drops them (its I/O
// bypasses them: none may be left for a later cached open). Close has nothing to flush.
void Install(Context& ctx, fuse_file_info* fi, std::unique_ptr<core::FileHandle> handle) {
  auto file = std::make_unique<OpenFile>();
  if (ctx.io_modes.enabled()) {
    auto fd = ctx.fs->HandleFd(*handle);
    file->mode =
        ctx.io_modes.Choose(handle->id().value, fd && handle->settled(), fd ? *fd : -1,
                            [&](int real) { return RegisterBackingFile(ctx.dev_fd, real); });
  }
  file->handle = std::move(handle);
#if STRATA_FUSE_HAS_PASSTHROUGH
  fi->backing_id = file->mode.backing_id;
#endif
  fi->keep_cache = file->mode.backing_id == 0;
  fi->noflush = 1;
  fi->fh = ctx.files.Add(std::move(file));
}

// Ends the open file FI stands for (released, or its open reply failed).
void Uninstall(Context& ctx, const fuse_file_info* fi) {
  const OpenFile& file = OpenFileOf(fi);
  ctx.io_modes.Release(file.handle->id().value, file.mode,
                       [&](int id) { UnregisterBackingFile(ctx.dev_fd, id); });
  ctx.files.Remove(fi->fh);
}

}  // namespace

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Serve(req, "open", [&](Reply& r) {
    Context& ctx = Ctx(req);
    auto handle = ctx.fs->OpenFile(core::InodeId{ino}, RealFlags(ctx, fi->flags));
    if (!handle) return (void)r.Err(handle.error());
    Install(ctx, fi, std::move(*handle));
    if (r.Open(*fi) != 0) Uninstall(ctx, fi);
  });
}

void OpCreate(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi) {
  Serve(req, "create", [&](Reply& r) {
    Context& ctx = Ctx(req);
    const fuse_ctx* caller = fuse_req_ctx(req);
    auto made = ctx.fs->Create(core::InodeId{parent}, name, mode, RealFlags(ctx, fi->flags),
                               core::Caller{caller->uid, caller->gid});
    if (!made) return (void)r.Err(made.error());
    const fuse_entry_param e = EntryParam(ctx, made->entry);
    Install(ctx, fi, std::move(made->handle));
    if (r.Create(e, *fi) != 0) {
      Uninstall(ctx, fi);
      ctx.fs->Forget(made->entry.id, 1);
    }
  });
}

void OpWriteBuf(fuse_req_t req, fuse_ino_t /*ino*/, fuse_bufvec* in_buf, off_t off,
                fuse_file_info* fi) {
  Serve(req, "write", [&](Reply& r) {
    auto copy = [&](int fd) -> Result<size_t> {
      fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in_buf));
      out.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
      out.buf[0].fd = fd;
      out.buf[0].pos = off;
      const ssize_t n = fuse_buf_copy(&out, in_buf, static_cast<fuse_buf_copy_flags>(0));
      if (n < 0) return Fail(static_cast<int>(-n));
      return static_cast<size_t>(n);
    };
    // The writeback cache's flushes keep the mtime the kernel gave the data (it sends it).
    auto write = [&]() -> Result<size_t> {
      if (fi->writepage) return Ctx(req).fs->FlushCachedWrite(Handle(fi), copy);
      STRATA_ASSIGN_OR_RETURN(int fd, Fd(req, fi));
      return copy(fd);
    };
    const Result<size_t> n = write();
    if (!n) return (void)r.Err(n.error());
    r.Write(*n);
  });
}

void OpFsync(fuse_req_t req, fuse_ino_t /*ino*/, int datasync, fuse_file_info* fi) {
  Serve(req, "fsync", [&](Reply& r) { r.Err(Ctx(req).fs->Fsync(Handle(fi), datasync != 0)); });
}

void OpFallocate(fuse_req_t req, fuse_ino_t /*ino*/, int mode, off_t offset, off_t length,
                 fuse_file_info* fi) {
  Serve(req, "fallocate", [&](Reply& r) {
    auto fd = Fd(req, fi);
    if (!fd) return (void)r.Err(fd.error());
    r.Err(::fallocate(*fd, mode, offset, length) == 0 ? 0 : errno);
  });
}

void OpCopyFileRange(fuse_req_t req, fuse_ino_t /*ino_in*/, off_t off_in, fuse_file_info* fi_in,
                     fuse_ino_t /*ino_out*/, off_t off_out, fuse_file_info* fi_out, size_t len,
                     int flags) {
  Serve(req, "copy_file_range", [&](Reply& r) {
    auto in_fd = Fd(req, fi_in);
    if (!in_fd) return (void)r.Err(in_fd.error());
    auto out_fd = Fd(req, fi_out);
    if (!out_fd) return (void)r.Err(out_fd.error());
    loff_t in = off_in, out = off_out;
    const ssize_t n =
        ::copy_file_range(*in_fd, &in, *out_fd, &out, len, static_cast<unsigned>(flags));
    if (n < 0) return (void)r.Err(errno);
    r.Write(static_cast<size_t>(n));
  });
}

void OpRead(fuse_req_t req, fuse_ino_t /*ino*/, size_t size, off_t off, fuse_file_info* fi) {
  Serve(req, "read", [&](Reply& r) {
    auto fd = Fd(req, fi);
    if (!fd) return (void)r.Err(fd.error());
    fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
    buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    buf.buf[0].fd = *fd;
    buf.buf[0].pos = off;
    r.Data(&buf);
  });
}

void OpFlush(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* /*fi*/) {
  Serve(req, "flush", [&](Reply& r) { r.Err(0); });
}

void OpRelease(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* fi) {
  Serve(req, "release", [&](Reply& r) {
    Uninstall(Ctx(req), fi);
    r.Err(0);
  });
}

void OpLseek(fuse_req_t req, fuse_ino_t /*ino*/, off_t off, int whence, fuse_file_info* fi) {
  Serve(req, "lseek", [&](Reply& r) {
    // With the writeback cache the real file lacks the kernel's dirty pages, so its holes are
    // not the file's: ENOSYS makes the kernel answer by itself (all data, the hole at the end),
    // which is always right.
    if (Ctx(req).writeback) return (void)r.Err(ENOSYS);
    auto fd = Fd(req, fi);
    if (!fd) return (void)r.Err(fd.error());
    // Only SEEK_DATA/SEEK_HOLE reach the daemon; a shared descriptor's position is unused.
    off_t res = ::lseek(*fd, off, whence);
    if (res < 0) return (void)r.Err(errno);
    r.Lseek(res);
  });
}

}  // namespace strata::fuse
