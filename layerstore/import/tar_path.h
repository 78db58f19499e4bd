// Paths from layer tars, normalised and classified before any of them touches the disk
// (SPEC.md section 4). Pure functions: no I/O, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "fs/base/status.h"

namespace strata::store {

// Splits an archive path into components: leading "/" and "./" stripped, "." components and
// repeated or trailing slashes dropped. An empty result is the layer root.
// Errors: EINVAL for a ".." component (an escape, wherever it would lead) or a NUL byte.
Result<std::vector<std::string>> NormalizeTarPath(std::string_view path);

enum class EntryKind {
  kNormal,    // an ordinary name
  kWhiteout,  // ".wh.NAME": NAME is deleted in lower layers
  kOpaque,    // ".wh..wh..opq": the parent directory hides lower layers
};

struct Classified {
  EntryKind kind = EntryKind::kNormal;
  std::string target;  // for kWhiteout: NAME
};

// Classifies a final path component. Errors: EINVAL for ".wh." (no name), ".wh.." (a whiteout
// of the parent), and other ".wh..wh.*" names the image spec reserves.
Result<Classified> ClassifyName(std::string_view name);

// True for xattr names overlayfs/fuse-overlayfs keep to themselves; a layer must not carry them.
bool IsOverlayPrivateXattr(std::string_view name);

}  // namespace strata::store
