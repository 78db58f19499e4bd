// The steps every import format ends with: extracting a verified layer into the store, and
// publishing an image (its documents, record and names) once all its layers are in.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fs/base/status.h"
#include "fs/base/unique_fd.h"
#include "layerstore/import/oci_import.h"
#include "layerstore/store.h"

namespace strata::store {

// Keeps the layer blob BLOB_FD (read from offset 0) with the layer (Store::LayerBlobPath),
// extracts the kept copy into a work directory and publishes it as DIFF_ID, after
// checking the blob's sha256 (if EXPECTED_BLOB is given) and its uncompressed sha256 (DIFF_ID).
// WHERE names the layer in errors. On any failure the work directory is removed.
Status ImportLayerBlob(Store& store, int blob_fd, const std::optional<Digest>& expected_blob,
                       const Digest& diff_id, const std::string& where);

// The diffIDs of an image config, checked: rootfs.type is "layers", diff_ids is an array of
// valid digests, one per layer (LAYER_COUNT). WHAT names the config in errors (EINVAL).
Result<std::vector<Digest>> ConfigDiffIds(const std::string& config_text, size_t layer_count,
                                          const std::string& what);

// Layer INDEX of COUNT: extracted from the blob OPEN_BLOB opens (via ImportLayerBlob) unless the
// store already has DIFF_ID, with progress reported to OPTIONS.on_layer. Returns whether it was
// extracted.
Result<bool> EnsureLayer(Store& store, const ImportOptions& options, size_t index, size_t count,
                         const Digest& diff_id, const std::function<Result<UniqueFd>()>& open_blob,
                         const std::optional<Digest>& expected_blob, const std::string& where);

// The OCI media type of a layer blob compressed as COMPRESSION says ("gzip", "zstd", "none").
std::string LayerMediaType(const std::string& compression);

// An OCI image manifest for the config CONFIG_TEXT (digest CONFIG_DIGEST) whose layers are the
// blobs the store keeps for DIFF_IDS (LayerRecord). Errors: the store's, for a missing layer.
Result<std::string> ManifestOfStoredLayers(const Store& store, const Digest& config_digest,
                                           const std::string& config_text,
                                           const std::vector<Digest>& diff_ids);

struct ImageDocuments {
  Digest manifest_digest;
  std::string manifest;  // stored verbatim as a blob
  Digest config_digest;
  std::string config;
  std::vector<Digest> diff_ids;    // bottom first; every layer already in the store
  std::vector<std::string> names;  // to normalise and set
};

// Stores the documents and the image record (with chainIDs from the config), sets the names.
// Errors: EINVAL for a config that is not an object or a bad name, or the store's errors.
Result<ImportedImage> CommitImage(Store& store, const ImageDocuments& docs);

}  // namespace strata::store
