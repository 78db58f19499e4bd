// Copy-up primitives: build, in the workdir, a copy of one real object of a lower layer.
//
// The copy keeps the data (holes stay holes), owner, permission bits (incl. setuid/setgid,
// applied after the owner so chown cannot clear them), xattrs except overlay-private ones, and
// atime/mtime. Data is cloned (FICLONE) where the filesystem can, else copied per data extent
// with copy_file_range, else with read/write. The caller renames the result into place; until
// then nothing of it is visible. Stateless, thread-safe; fds are borrowed.
#pragma once

#include <sys/stat.h>

#include <string>

#include "fs/base/status.h"
#include "fs/core/xattr_io.h"

namespace strata::core {

struct CopyOptions {
  bool fsync = true;  // fsync file data before returning (off with fsync=0 / volatile)
  // Not privileged: chown and writes of xattrs the daemon may not set (EPERM) are skipped
  // rather than failing the copy.
  bool unprivileged = false;
  // A regular file gets its size but none of its data (a metacopy copy-up: the data stays
  // below), so there is nothing to fsync.
  bool metadata_only = false;
};

// Copies SIZE bytes of regular file data from IN to OUT (both at offset 0), keeping holes.
Status CopyFileData(int in, int out, off_t size);

// Copies every xattr except the overlay-private ones from SRC to DST (xattr_io paths).
// Errors: the errno of a read or write, except ENOTSUP from the destination (no xattrs there)
// and, with options.unprivileged, EPERM.
Status CopyXattrs(const std::string& src, const std::string& dst, Follow follow,
                  const CopyOptions& options);

// Creates TMP in WORK_FD as a copy of SRC_NAME in SRC_DIRFD, whose lstat is ST. A directory is
// copied without its children. A regular file's data is read from DATA_FD if it is given (the
// source is a metacopy file), else from the source. Errors: the errno of the failing step;
// TMP is removed on error.
Status CopyObject(int src_dirfd, const std::string& src_name, const struct stat& st, int work_fd,
                  const std::string& tmp, const CopyOptions& options, int data_fd = -1);

}  // namespace strata::core
