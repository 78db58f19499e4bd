// Name and attribute changes of the writable layer: mknod, mkdir, symlink, link, unlink, rmdir,
// rename, setattr. New entries are created as the calling user.
#include <linux/fs.h>

#include <algorithm>
#include <cstring>

#include "fs/fuse/context.h"
#include "fs/fuse/ops.h"
#include "fs/fuse/reply.h"

namespace strata::fuse {
namespace {

core::InodeId Id(fuse_ino_t ino) { return core::InodeId{ino}; }

// The bits of an FS_IOC_SETFLAGS word or an fsxattr that forbid writes to a file.
uint32_t WriteBarrier(unsigned cmd, const void* data) {
  if (cmd == FS_IOC_FSSETXATTR) {
    return static_cast<const struct fsxattr*>(data)->fsx_xflags &
           (FS_XFLAG_APPEND | FS_XFLAG_IMMUTABLE);
  }
  return static_cast<uint32_t>(*static_cast<const int*>(data)) & (FS_APPEND_FL | FS_IMMUTABLE_FL);
}

core::Caller CallerOf(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  return core::Caller{ctx->uid, ctx->gid};
}

void ReplyEntry(fuse_req_t req, Reply& r, const Result<core::Entry>& entry) {
  if (!entry) return (void)r.Err(entry.error());
  Context& ctx = Ctx(req);
  if (r.Entry(EntryParam(ctx, *entry)) != 0)
    ctx.fs->Forget(entry->id, 1);  // the kernel never got it
}

}  // namespace

void OpMknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  Serve(req, "mknod", [&](Reply& r) {
    ReplyEntry(req, r, Ctx(req).fs->MakeNode(Id(parent), name, mode, rdev, CallerOf(req)));
  });
}

void OpMkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Serve(req, "mkdir", [&](Reply& r) {
    ReplyEntry(req, r, Ctx(req).fs->MakeDir(Id(parent), name, mode, CallerOf(req)));
  });
}

void OpSymlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  Serve(req, "symlink", [&](Reply& r) {
    ReplyEntry(req, r, Ctx(req).fs->MakeSymlink(Id(parent), name, link, CallerOf(req)));
  });
}

void OpLink(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  Serve(req, "link",
        [&](Reply& r) { ReplyEntry(req, r, Ctx(req).fs->Link(Id(ino), Id(newparent), newname)); });
}

void OpUnlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Serve(req, "unlink", [&](Reply& r) { r.Err(Ctx(req).fs->Unlink(Id(parent), name)); });
}

void OpRmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  Serve(req, "rmdir", [&](Reply& r) { r.Err(Ctx(req).fs->Rmdir(Id(parent), name)); });
}

void OpRename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
              const char* newname, unsigned int flags) {
  Serve(req, "rename", [&](Reply& r) {
    r.Err(Ctx(req).fs->Rename(Id(parent), name, Id(newparent), newname, flags));
  });
}

void OpSetattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  Serve(req, "setattr", [&](Reply& r) {
    core::AttrChange change;
    if (to_set & FUSE_SET_ATTR_MODE) change.mode = attr->st_mode;
    if (to_set & FUSE_SET_ATTR_UID) change.uid = attr->st_uid;
    if (to_set & FUSE_SET_ATTR_GID) change.gid = attr->st_gid;
    if (to_set & FUSE_SET_ATTR_SIZE) change.size = attr->st_size;
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
      change.atime = timespec{0, UTIME_NOW};
    } else if (to_set & FUSE_SET_ATTR_ATIME) {
      change.atime = attr->st_atim;
    }
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
      change.mtime = timespec{0, UTIME_NOW};
    } else if (to_set & FUSE_SET_ATTR_MTIME) {
      change.mtime = attr->st_mtim;
    }
    // The kernel passes a handle for ftruncate(2) and open(O_TRUNC), only on regular files.
    if (fi != nullptr && (to_set & FUSE_SET_ATTR_SIZE)) {
      auto fd = Ctx(req).fs->HandleFd(*OpenFileOf(fi).handle);
      if (!fd) return (void)r.Err(fd.error());
      change.fd = *fd;
    }
    auto st = Ctx(req).fs->SetAttr(Id(ino), change);
    if (!st) return (void)r.Err(st.error());
    r.Attr(*st, AttrTimeout(Ctx(req), Id(ino)));
  });
}

// chattr/lsattr. The kernel sends these for fileattr_get/set (a 4-byte flags word or a struct
// fsxattr), through a handle it opened itself (for a directory none: ops_dir.cc), so the inode
// is what counts.
void OpIoctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void* /*arg*/,
             fuse_file_info* /*fi*/, unsigned flags, const void* in_buf, size_t in_bufsz,
             size_t out_bufsz) {
  Serve(req, "ioctl", [&](Reply& r) {
    if (flags & FUSE_IOCTL_COMPAT) return (void)r.Err(ENOSYS);
    union {
      int flags;
      struct fsxattr fsx;
    } data{};
    const size_t size =
        cmd == FS_IOC_FSGETXATTR || cmd == FS_IOC_FSSETXATTR ? sizeof data.fsx : sizeof data.flags;
    const bool set = cmd == FS_IOC_SETFLAGS || cmd == FS_IOC_FSSETXATTR;
    Context& ctx = Ctx(req);
    if (set) {
      if (in_bufsz < size) return (void)r.Err(EINVAL);
      std::memcpy(&data, in_buf, size);
    }
    // The writeback cache takes writes the kernel flushes later, and the kernel does not know
    // a file's inode flags: a regular file made append-only or immutable would accept writes
    // into the cache that then fail when flushed, data lost (fsync: EPERM, later EIO). So with
    // it those flags cannot be set on a file; a file that has them is refused write opens by
    // the real filesystem (the cache only ever opens real files for reading and writing).
    if (set && ctx.writeback && WriteBarrier(cmd, &data) != 0) {
      auto st = ctx.fs->GetAttr(Id(ino));
      if (!st) return (void)r.Err(st.error());
      if (S_ISREG(st->st_mode)) {
        auto now = data;
        const unsigned get = cmd == FS_IOC_FSSETXATTR ? FS_IOC_FSGETXATTR : FS_IOC_GETFLAGS;
        auto got = ctx.fs->FileAttrIoctl(Id(ino), get, &now);
        if (!got) return (void)r.Err(got.error());
        if ((WriteBarrier(cmd, &data) & ~WriteBarrier(cmd, &now)) != 0) {
          return (void)r.Err(EOPNOTSUPP);
        }
      }
    }
    auto status = ctx.fs->FileAttrIoctl(Id(ino), cmd, &data);
    if (!status) return (void)r.Err(status.error());
    r.Ioctl(set ? nullptr : &data, set ? 0 : std::min(out_bufsz, size));
  });
}

}  // namespace strata::fuse
