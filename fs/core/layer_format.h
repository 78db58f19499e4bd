// The on-disk overlay encodings strata reads (SPEC.md section 2).
//
// Whiteouts: a character device 0/0; a `.wh.NAME` file (OCI); or, in a directory marked with
// overlay.opaque="x", a zero-size regular file carrying an overlay.whiteout xattr (kernel 6.7+).
// Opaque directories: overlay.opaque="y" in the trusted. or user. namespace,
// user.fuseoverlayfs.opaque="y", or a `.wh..wh..opq` entry inside.
// All functions are stateless and thread-safe; fds are borrowed, never closed.
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>

#include "fs/base/status.h"

namespace strata::core {

inline constexpr std::string_view kWhiteoutPrefix = ".wh.";
inline constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

inline bool HasWhiteoutPrefix(std::string_view name) { return name.starts_with(kWhiteoutPrefix); }

// A char device 0/0.
inline bool IsDeviceWhiteout(const struct stat& st) {
  return S_ISCHR(st.st_mode) && st.st_rdev == 0;
}

// True for the overlay-private xattr namespaces users must never see or set.
bool IsPrivateXattr(std::string_view name);

// "/proc/self/fd/N" (and "/proc/self/fd/N/name"): lets path-based syscalls (xattrs) act on
// an O_PATH fd without resolving absolute paths.
std::string ProcFdPath(int fd);
std::string ProcFdPath(int dirfd, std::string_view name);

struct DirMarks {
  bool opaque = false;           // hides every lower directory of the same path
  bool xattr_whiteouts = false;  // children may be xattr whiteouts (overlay.opaque="x")
};

// Reads the opaque markers of the directory open as `dirfd` (O_PATH is fine).
// Errors: errno of listxattr/getxattr/fstatat other than "no such xattr/entry".
Result<DirMarks> ReadDirMarks(int dirfd);

// True if NAME in directory `dirfd` (whose marks allow xattr whiteouts) is a zero-size regular
// file with an overlay.whiteout xattr. `st` is NAME's lstat.
bool IsXattrWhiteout(int dirfd, std::string_view name, const struct stat& st);

}  // namespace strata::core
