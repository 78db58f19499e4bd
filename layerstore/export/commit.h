// strata commit: a container's changes become the new top layer of an image.
//
// The container layer is written as an OCI layer blob (container_diff.h), compressed as asked,
// into the store's tmp/; the layer is then imported from that blob exactly as a pulled one is
// (verified, extracted, the blob kept), so mounting the new image shows what the container
// showed. The new config is the container's image's with the diffID appended, a history entry
// and a fresh `created`; the manifest is an OCI image manifest naming the blob of each layer as
// the store keeps it. The container itself is left as it was.
#pragma once

#include <string>

#include "fs/base/status.h"
#include "layerstore/export/tar_out.h"
#include "layerstore/import/oci_import.h"
#include "layerstore/store.h"

namespace strata::store {

struct CommitOptions {
  std::string container;  // the container's name in the store
  std::string name;       // name[:tag] for the new image; empty: unnamed
  std::string message;    // the history entry's comment
  std::string author;
  Compression compression = Compression::kGzip;
};

struct CommittedImage {
  ImportedImage image;
  Digest diff_id;
  uint64_t entries = 0;
  uint64_t blob_size = 0;
};

// Errors: ENOENT for an unknown container, EBUSY while it is mounted, EINVAL for a bad name,
// or the errors of reading the container (naming the path) and of storing the layer.
Result<CommittedImage> CommitContainer(Store& store, const CommitOptions& options);

}  // namespace strata::store
