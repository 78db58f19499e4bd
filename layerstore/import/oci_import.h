// Import of images into the Store (SPEC.md section 4), from an OCI layout directory, an
// oci-archive (a tar of one, plain or compressed), a docker-archive (docker_import.h), as a
// file or unpacked, or a containers/image "dir:" directory, detected by content; the
// containers/image spellings "oci:DIR[:REF]", "oci-archive:FILE[:REF]",
// "docker-archive:FILE[:REF|:@N]" and "dir:DIR" are accepted too.
//
// Every descriptor is checked before use: digest grammar (before it becomes a path), size,
// sha256 of every blob, mediaType agreement between descriptor and document, size caps on
// JSON, rootfs.type == "layers", one diffID per layer, and each layer's uncompressed sha256
// against its diffID. A layer already in the store (same diffID) is not extracted again, so a
// second import of an image is a fast no-op. Nothing is published unless it verified.
//
// Not yet: unprivileged extraction of device nodes and foreign owners; dir: images holding an
// index (multi-platform).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "fs/base/status.h"
#include "layerstore/store.h"

namespace strata::store {

struct LayerProgress {
  size_t index = 0;  // 0-based
  size_t count = 0;
  Digest diff_id;
  bool extracting = false;  // false: already in the store
  bool done = false;        // false: about to start; true: finished
  uint64_t bytes = 0;       // uncompressed bytes extracted (when done)
  double seconds = 0;       // time taken (when done)
};

struct ImportOptions {
  std::string name;      // tag to give the image (default: from the layout's annotations)
  std::string platform;  // "os/arch[/variant]"; default: this host
  bool all_platforms = false;
  // Called before and after each layer.
  std::function<void(const LayerProgress&)> on_layer;
};

struct ImportedImage {
  Digest id;
  std::vector<std::string> names;
  size_t layers_extracted = 0;
  size_t layers_reused = 0;
};

// Errors: EINVAL naming the document and the rule it broke, ENOENT for missing blobs, EIO for
// corrupt layers, ENOTSUP for formats not supported yet, or the errno of the failed syscall.
Result<std::vector<ImportedImage>> ImportImage(Store& store, const std::string& source,
                                               const ImportOptions& options);

// "linux/amd64" style platform of this machine.
std::string HostPlatform();

}  // namespace strata::store
