// `strata push`: an image from the store to a registry. Blobs the repository already has
// (HEAD) are not sent; a blob another repository of the same registry holds (one of this
// store's names there has an image using it) is mounted from it (no transfer); the rest are uploaded
// from the store's kept blobs (POST, then PUT with the data; the registry checks each digest).
// The config goes last of the blobs, then the manifest: the one the image was received with
// when it names the kept blobs (image_plan.h), so a pulled image pushes with the same digest.
#pragma once

#include <functional>
#include <string>

#include "fs/base/status.h"
#include "layerstore/registry/http.h"
#include "layerstore/registry/registry_client.h"
#include "layerstore/store.h"

namespace strata::store {

struct BlobProgress {
  size_t index = 0, count = 0;  // blobs of the image (layers, then the config)
  Digest digest;
  uint64_t size = 0;
  enum class Outcome { kPending, kExists, kMounted, kUploaded } outcome = Outcome::kPending;
  std::string mounted_from;
  double seconds = 0;  // of the upload
};

struct PushOptions {
  RegistryOptions registry;
  std::function<void(const BlobProgress&)> on_blob;  // before (kPending) and after each blob
};

struct PushedImage {
  std::string destination;  // as pushed: "registry/repository:tag"
  Digest manifest_digest;
  size_t uploaded = 0, existed = 0, mounted = 0;
};

// Pushes image REF of the store to DESTINATION (a registry reference; empty: REF's name).
// Errors: ENOENT (unknown image, a layer without its kept blob), EINVAL (no destination for an
// image without a name, a bad reference), EACCES (authentication), EIO (the registry refused a
// blob or the manifest, or a kept blob no longer verifies), or the transport's errno.
Result<PushedImage> PushImage(Store& store, const std::string& ref,
                              const std::string& destination, const PushOptions& options,
                              Http* http = nullptr);

}  // namespace strata::store
