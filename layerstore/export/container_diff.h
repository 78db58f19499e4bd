// The changes a container made to its image, written as the entries of an OCI layer tar
// (SPEC.md section 4): what `strata commit` stores as the image's new top layer.
//
// The container's upper layer says what changed; the union of the container (fs/core, the
// code stratafs serves, opened here with no kernel) says what the container shows there, so
// the layer holds exactly that: owners and modes as shown (override_stat applied), data of
// metacopy files from below, no overlay-private xattrs. Per upper entry:
// - a whiteout (char 0/0, ".wh.NAME" file or xattr whiteout) becomes ".wh.NAME";
// - an opaque directory gets ".wh..wh..opq";
// - a renamed directory (overlay.redirect) is written out in full, opaque, since OCI layers
//   have no rename;
// - a file with several names is one file and hard links to it, including names below the
//   upper layer that show the same copied-up file (index=on semantics), with their parent
//   directories.
// Entries come parents first, names sorted; the root directory is the first entry ("./").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fs/base/status.h"
#include "layerstore/export/tar_out.h"

namespace strata::store {

struct ContainerLayers {
  std::vector<std::string> lowerdirs;  // the image's layers, topmost first
  std::string upperdir;
  std::string workdir;
  // The override_stat xattr the container was mounted with (xattr_permissions=2), or empty.
  std::string override_xattr;
};

struct DiffStats {
  uint64_t entries = 0;    // tar entries written
  uint64_t whiteouts = 0;  // of them, whiteouts and opaque markers
  uint64_t data_bytes = 0;
};

// Errors: EBUSY if a stratafs mount uses the workdir (the container is mounted), the errors of
// opening the union, or the errno of reading an entry (naming its path), or TarOut's.
Result<DiffStats> WriteContainerDiff(const ContainerLayers& container, TarOut& out);

}  // namespace strata::store
