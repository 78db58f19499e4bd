#include "fs/fuse/ops.h"

namespace strata::fuse {

fuse_lowlevel_ops MakeOps() {
  fuse_lowlevel_ops ops{};
  ops.init = OpInit;
  ops.lookup = OpLookup;
  ops.forget = OpForget;
  ops.forget_multi = OpForgetMulti;
  ops.getattr = OpGetattr;
  ops.readlink = OpReadlink;
  ops.statfs = OpStatfs;
  ops.access = OpAccess;
  ops.opendir = OpOpendir;
  ops.readdir = OpReaddir;
  ops.readdirplus = OpReaddirplus;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.flush = OpFlush;
  ops.release = OpRelease;
  ops.lseek = OpLseek;
  ops.getxattr = OpGetxattr;
  ops.listxattr = OpListxattr;
  ops.setxattr = OpSetxattr;
  ops.removexattr = OpRemovexattr;
  ops.mknod = OpMknod;
  ops.mkdir = OpMkdir;
  ops.symlink = OpSymlink;
  ops.link = OpLink;
  ops.unlink = OpUnlink;
  ops.rmdir = OpRmdir;
  ops.rename = OpRename;
  ops.setattr = OpSetattr;
  ops.ioctl = OpIoctl;
  ops.create = OpCreate;
  ops.write_buf = OpWriteBuf;
  ops.fsync = OpFsync;
  ops.fsyncdir = OpFsyncdir;
  ops.fallocate = OpFallocate;
  ops.copy_file_range = OpCopyFileRange;
  return ops;
}

}  // namespace strata::fuse
