// What an image is made of when it leaves the store (save, push): its config, the manifest to
// send and the kept blob of every layer, read and checked before anything is written.
//
// The manifest is one the image was received with (its repo digests) that names exactly the
// kept layer blobs, so the image keeps its digest: the one asked for, else the newest received
// under the repository asked for, else the newest received at all; failing those, an OCI
// manifest of the kept blobs (ManifestOfStoredLayers). The image ID (the config) never changes.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fs/base/status.h"
#include "layerstore/digest.h"
#include "layerstore/store.h"

namespace strata::store {

struct PlannedLayer {
  LayerRecord record;
  std::string blob_path;  // Store::LayerBlobPath
};

struct PlannedImage {
  ImageRecord image;
  std::string config;
  std::string manifest;
  Digest manifest_digest;
  std::string manifest_media_type;
  std::vector<PlannedLayer> layers;  // bottom first
};

// Errors: ENOENT for an unknown image or a layer stored without its blob (by a strata older
// than blob keeping: import or pull the image again), EINVAL when MANIFEST (asked for by
// NAME@sha256) names blobs other than the kept ones, or the store's errors.
Result<PlannedImage> PlanImage(const Store& store, const Digest& id,
                               const std::string& repository = "",
                               const std::optional<Digest>& manifest = std::nullopt);

// Writes DATA of SIZE bytes somewhere; a failure stops the copy.
using BlobPut = std::function<Status(const void* data, size_t size)>;

// Streams the kept blob of LAYER through PUT, then checks its sha256 and size (EIO if they
// are not the record's: the store is corrupt).
Status CopyKeptBlob(const PlannedLayer& layer, const BlobPut& put);

}  // namespace strata::store
