// Operations on images by reference, shared by the tool's commands: finding an image, removing
// a reference (an alias is untagged, the last reference removes the image), pruning unnamed
// images. Removal and pruning need the store's exclusive lock.
#pragma once

#include <string>
#include <vector>

#include "fs/base/status.h"
#include "layerstore/reference.h"
#include "layerstore/store.h"

namespace strata::store {

// The image REF names (see ResolveReferenceName); NAME@sha256:... also finds the image one of
// whose repo digests it is (then Resolved::manifest is set), as podman reads it, before the
// digest is taken as an image ID. Errors: ENOENT, EINVAL.
Result<Resolved> ResolveImage(const Store& store, const std::string& ref);

struct Removal {
  Digest id;
  std::string untagged;  // the name dropped, when the image keeps other names
  bool image_removed = false;
};

// Drops REF: if it is a name of an image that has other names, only that name; otherwise the
// image and all its names. Unused layers and blobs are left for CollectGarbage.
Result<Removal> RemoveReference(Store& store, const std::string& ref);

// Removes every image no name points at and no container was made from; returns their ids.
Result<std::vector<Digest>> RemoveUnnamedImages(Store& store);

}  // namespace strata::store
