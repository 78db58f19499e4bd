// File data: open hands back a handle owning the real file's fd; reads are spliced from it.
#include <unistd.h>

#include "fs/base/unique_fd.h"
#include "fs/fuse/context.h"
#include "fs/fuse/ops.h"
#include "fs/fuse/reply.h"

namespace strata::fuse {
namespace {

FileHandle* Handle(const fuse_file_info* fi) { return HandleRegistry<FileHandle>::Get(fi->fh); }

}  // namespace

void OpOpen(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Serve(req, "open", [&](Reply& r) {
    auto fd = Ctx(req).fs->OpenFile(core::InodeId{ino}, fi->flags);
    if (!fd) return (void)r.Err(fd.error());
    fi->fh = Ctx(req).files.Add(std::make_unique<FileHandle>(FileHandle{std::move(*fd)}));
    fi->keep_cache = 1;  // lower files never change while mounted
    fi->noflush = 1;     // nothing to flush on close of a read-only file
    if (r.Open(*fi) != 0) Ctx(req).files.Remove(fi->fh);
  });
}

void OpRead(fuse_req_t req, fuse_ino_t /*ino*/, size_t size, off_t off, fuse_file_info* fi) {
  Serve(req, "read", [&](Reply& r) {
    fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
    buf.buf[0].flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    buf.buf[0].fd = Handle(fi)->fd.Get();
    buf.buf[0].pos = off;
    r.Data(&buf);
  });
}

void OpFlush(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* /*fi*/) {
  Serve(req, "flush", [&](Reply& r) { r.Err(0); });
}

void OpRelease(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* fi) {
  Serve(req, "release", [&](Reply& r) {
    Ctx(req).files.Remove(fi->fh);
    r.Err(0);
  });
}

void OpLseek(fuse_req_t req, fuse_ino_t /*ino*/, off_t off, int whence, fuse_file_info* fi) {
  Serve(req, "lseek", [&](Reply& r) {
    off_t res = ::lseek(Handle(fi)->fd.Get(), off, whence);
    if (res < 0) return (void)r.Err(errno);
    r.Lseek(res);
  });
}

}  // namespace strata::fuse
