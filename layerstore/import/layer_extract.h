// Extraction of one layer tar into a directory that stratafs (and kernel overlayfs, when
// privileged) can stack directly, enforcing every rule of SPEC.md section 4 on the way.
//
// - Paths are normalised (leading "/" and "./" dropped); ".." anywhere is refused.
// - Nothing is ever followed on the host: every component is opened O_NOFOLLOW relative to the
//   destination; an entry below a symlink of the layer ("write through a symlink") is refused.
// - Hard links must point backward at a non-directory already extracted from this layer.
// - ".wh.NAME" becomes the canonical whiteout (char 0/0 as root, else a ".wh.NAME" file);
//   ".wh..wh..opq" makes its directory opaque (trusted.overlay.opaque=y as root, else
//   user.overlay.opaque=y). A whiteout of a name this layer also has keeps the entry (a
//   directory becomes opaque). Whiteouts under whited-out parents are ignored.
// - The last of duplicate entries wins. Modes (setuid too), 32-bit owners, nanosecond mtimes,
//   binary xattrs, devices, FIFOs and sparse holes are kept. Xattrs in the overlay-private
//   namespaces are refused. The root entry may only be a directory.
//
// Errors are EINVAL with a message naming the entry and the rule, EIO for corrupt archives, or
// the errno of a failed syscall. On error the destination holds a partial tree: callers
// extract into a fresh temporary directory and delete it on failure. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "fs/base/status.h"
#include "layerstore/digest.h"

namespace strata::store {

struct ExtractOptions {
  // Root: device nodes, foreign owners, char 0/0 whiteouts and trusted.* xattrs. Without it,
  // whiteouts are ".wh." files, opaque markers user.overlay.opaque, trusted.* xattrs are
  // refused, and foreign owners and device nodes (as empty files) are recorded in
  // user.containers.override_stat ("UID:GID:0MODE[:char-MAJ-MIN|:block-MAJ-MIN]").
  bool privileged = true;
};

struct ExtractResult {
  Digest blob_digest;       // sha256 of the blob as read
  Digest diff_id;           // sha256 of the uncompressed tar
  std::string compression;  // "gzip", "zstd" or "none"
  uint64_t tar_bytes = 0;   // uncompressed size
  uint64_t entries = 0;
};

// Reads the layer blob from BLOB_FD (at its current offset) and extracts it into the empty
// directory DEST_DIRFD.
Result<ExtractResult> ExtractLayer(int blob_fd, int dest_dirfd, const ExtractOptions& options);

}  // namespace strata::store
