// strata save: images out of the store as files other tools load.
//
// - oci-dir: an OCI image layout (oci-layout, index.json, blobs/sha256/); one index entry per
//   REF, named by org.opencontainers.image.ref.name when REF was a name;
// - oci-archive: the same layout in a tar file (skopeo's and podman's oci-archive:);
// - docker-archive: `docker save`'s format (manifest.json with RepoTags, CONFIG.json,
//   DIFFID/layer.tar uncompressed), which docker, podman and skopeo load.
// Every blob is the store's own copy (the layer blob kept at import, pull or commit), hashed
// again on the way out: a corrupt store fails the save instead of producing a bad file. The
// manifest is chosen as image_plan.h says (the received one when it can be). Output is written next to its final path and renamed into place when
// complete ("-" writes an archive to stdout).
#pragma once

#include <string>
#include <vector>

#include "fs/base/status.h"
#include "layerstore/digest.h"
#include "layerstore/store.h"

namespace strata::store {

enum class SaveFormat { kOciArchive, kDockerArchive, kOciDir };

// Errors: EINVAL for another name than oci-archive, docker-archive or oci-dir.
Result<SaveFormat> ParseSaveFormat(const std::string& name);

struct SaveOptions {
  std::vector<std::string> refs;  // names or IDs, at least one
  std::string output;             // file or directory; "-": stdout (archives)
  SaveFormat format = SaveFormat::kOciArchive;
};

struct SavedImage {
  Digest id;
  Digest manifest_digest;
  std::vector<std::string> names;
};

// Errors: ENOENT for an unknown REF or a layer stored without its blob (by a strata older than
// blob keeping: import or pull the image again), EIO for a kept blob that no longer hashes to
// its digest, EEXIST for an oci-dir output that exists and is not empty, EINVAL for "-" with
// oci-dir, or the errno of writing (naming the path).
Result<std::vector<SavedImage>> SaveImages(const Store& store, const SaveOptions& options);

}  // namespace strata::store
