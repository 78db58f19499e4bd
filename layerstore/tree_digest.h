// TreeDigest: one sha256 over an extracted layer directory, so `strata verify` can tell a
// layer tree that changed since import (a modified, added, removed or re-owned file) from an
// intact one.
//
// Every entry beneath the root, in sorted path order, contributes its path, type, permission
// bits, owner, size, st_nlink, device number, mtime, symlink target, xattrs (sorted, values
// included) and, for regular files, the sha256 of its content; the root contributes its own
// metadata. Nothing is followed; fds are relative to the root. Stateless, thread-safe.
#pragma once

#include "fs/base/status.h"
#include "layerstore/digest.h"

namespace strata::store {

// Errors: the errno of reading any entry (with its path).
Result<Digest> TreeDigest(int root_dirfd);

}  // namespace strata::store
