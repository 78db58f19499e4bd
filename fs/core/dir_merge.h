// The merged listing of one directory across its real directories (SPEC.md section 3):
// each visible name once, from the topmost layer that has it; whiteouts in every encoding
// hidden, as are the names they hide in lower layers; names starting ".wh." never listed.
// "." and ".." come first. O(total entries) time: one hash set of names, no pairwise compare.
// Thread-safe (reads only immutable node fields).
#pragma once

#include <vector>

#include "fs/base/status.h"
#include "fs/core/inode.h"
#include "fs/core/layer_stack.h"
#include "fs/core/union_fs.h"

namespace strata::core {

// Errors: the errno of opening or reading a layer's directory.
Result<std::vector<DirEntry>> MergeDirectory(const Inode& dir, const LayerStack& layers);

}  // namespace strata::core
