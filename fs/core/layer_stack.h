// LayerStack: the layer directories of one mount, opened once, topmost first.
//
// Holds an O_PATH fd per layer root; every later access is relative to these fds. Also owns the
// st_ino policy: when all layers share one st_dev (the common case), a merged entry shows the
// st_ino of its topmost real object, which is unique within the mount and stable across
// remounts; otherwise the layer's filesystem index is put in the top 8 bits (like kernel
// overlayfs xino), which stays unique while real inode numbers fit in 56 bits.
// Immutable after Open; thread-safe.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "fs/base/status.h"
#include "fs/base/unique_fd.h"

namespace strata::core {

// Kernel overlayfs caps lower layers at 500; so do we (SPEC asks for at least 128).
inline constexpr size_t kMaxLayers = 500;

struct Layer {
  std::string path;
  UniqueFd root;  // O_PATH | O_DIRECTORY
  dev_t dev = 0;
  int fs_index = 0;  // distinct filesystems in order of first appearance
};

class LayerStack {
 public:
  // Opens `paths` (topmost first). Errors: EINVAL for an empty list or more than kMaxLayers,
  // ENOTDIR for a layer that is not a directory, and open/stat errnos, each naming the path.
  static Result<LayerStack> Open(const std::vector<std::string>& paths);

  size_t size() const { return layers_.size(); }
  const Layer& operator[](size_t i) const { return layers_[i]; }
  bool SameFs() const { return same_fs_; }

  // The st_ino users see for real inode `ino` found in layer `layer`.
  uint64_t MapIno(int layer, uint64_t ino) const {
    if (same_fs_) return ino;
    return (static_cast<uint64_t>(layers_[layer].fs_index) << 56) |
           (ino & ((uint64_t{1} << 56) - 1));
  }

 private:
  std::vector<Layer> layers_;
  bool same_fs_ = true;
};

}  // namespace strata::core
