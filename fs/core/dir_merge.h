// The merged listing of one directory across its real directories (SPEC.md section 3):
// each visible name once, from the topmost layer that has it; whiteouts in every encoding
// hidden, as are the names they hide in lower layers; names starting ".wh." never listed.
// "." and ".." come first. O(total entries) time: one hash set of names, no pairwise compare.
// Thread-safe (works on an immutable RealDirs snapshot).
#pragma once

#include <vector>

#include "fs/base/status.h"
#include "fs/core/inode.h"
#include "fs/core/layer_stack.h"
#include "fs/core/union_fs.h"

namespace strata::core {

struct MergeInput {
  const RealDirs* reals = nullptr;
  uint64_t self_ino = 0;    // "."
  uint64_t parent_ino = 0;  // ".."
  // Upper layers only: the xattr prefix under which copied-up entries keep their st_ino, so
  // d_ino equals st_ino ("" when there is no upper layer).
  std::string_view ino_prefix;
  size_t first = 0;  // the real directories from this one down (a lower part only)
};

// Errors: the errno of opening or reading a layer's directory.
Result<std::vector<DirEntry>> MergeDirectory(const MergeInput& dir, const LayerStack& layers);

}  // namespace strata::core
