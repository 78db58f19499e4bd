// LowerIndex: the visible names of a merged directory's lower layers, each with the layer of
// its topmost object. Lower layers never change while mounted, so once built it answers a
// lookup that reaches them with one probe of the right layer (or none, for an absent name)
// instead of two per layer: what makes lookups through deep stacks cost about what they cost
// through one. Built lazily (UnionFs::FindReal, after a few lookups that probed deep), from
// the directory's lower real directories with MergeDirectory's rules (every whiteout
// encoding, OCI ".wh." files, names whited out above hidden), and kept by the directory's
// node until the kernel forgets it. Immutable once built.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "fs/base/status.h"
#include "fs/core/inode.h"
#include "fs/core/layer_stack.h"

namespace strata::core {

struct LowerIndex {
  std::vector<int> layers;  // the lower real directories it lists, topmost first
  std::unordered_map<std::string, int> layer_of;  // visible name -> layer of its topmost object
  // More names than an index keeps (kMaxNames): lookups there keep probing.
  bool too_big = false;

  static constexpr size_t kMaxNames = 1 << 17;

  // Whether it lists exactly REALS[FIRST..] (a directory's lower part changes only if the
  // directory is renamed or re-merged).
  bool Matches(const RealDirs& reals, size_t first) const;
};

// Lists REALS[FIRST..]. Errors: the errno of opening or reading a layer's directory.
Result<std::shared_ptr<const LowerIndex>> BuildLowerIndex(const RealDirs& reals, size_t first,
                                                          const LayerStack& layers);

}  // namespace strata::core
