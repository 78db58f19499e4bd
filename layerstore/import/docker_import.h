// Import of docker-archive images (SPEC.md section 4), already unpacked into a directory:
// legacy `docker save` (<id>/layer.tar), the containers/image writer (<diffID>.tar, with
// in-archive symlinks for shared layers), and Docker 25+ exports (blobs/sha256/...). The
// archive's manifest.json lists the images: all are imported, or the one REF names ("name:tag"
// from RepoTags, or "@N" for the Nth).
//
// A docker-archive has no registry manifest: the config is verified against the digest its
// file name states (when it is named <hex>.json) and every layer against the config's diffIDs;
// an OCI manifest describing the stored layers is written in the store in its place.
#pragma once

#include <string>
#include <vector>

#include "fs/base/status.h"
#include "layerstore/import/oci_import.h"
#include "layerstore/store.h"

namespace strata::store {

Result<std::vector<ImportedImage>> ImportDockerArchive(Store& store, const std::string& dir,
                                                       const ImportOptions& options,
                                                       const std::string& ref);

}  // namespace strata::store
