// Read-only views of the store for the tool: disk usage, image history, verification.
// Each takes a Store opened with at least the shared lock. Thread-safe as the Store is.
#pragma once

#include <string>
#include <vector>

#include "fs/base/status.h"
#include "layerstore/store.h"

namespace strata::store {

struct ImageUsage {
  Digest id;
  uint64_t total = 0;   // bytes of all its layers (uncompressed)
  uint64_t shared = 0;  // bytes of layers other images use too
  uint64_t unique = 0;  // bytes only this image uses
};

struct Usage {
  std::vector<ImageUsage> images;
  uint64_t layers_bytes = 0;  // every stored layer once
  uint64_t blobs_bytes = 0;   // their blobs as received (kept for save and push)
  size_t layers = 0;
};

Result<Usage> ComputeUsage(const Store& store);

struct HistoryEntry {
  std::string created;
  std::string created_by;
  std::string comment;
  bool empty_layer = false;
  Digest diff_id;     // for non-empty entries
  uint64_t size = 0;  // uncompressed bytes of its layer
};

// The config's history, newest first as `docker image history` prints it, each non-empty entry
// paired with its layer. Errors: EINVAL if the history names more layers than the image has.
Result<std::vector<HistoryEntry>> ImageHistory(const Store& store, const Digest& id);

struct VerifyReport {
  size_t blobs = 0, layers = 0, images = 0;
  size_t layers_unhashed = 0;         // layers imported before tree digests were recorded
  size_t layers_without_blob = 0;     // layers stored before blobs were kept (no save, push)
  std::vector<std::string> problems;  // empty when everything verified
};

// Re-hashes every blob against its name, every layer tree against the TreeDigest recorded at
// import and every kept layer blob against its digest, and checks that every image's documents and layers are present and
// agree with its record.
Result<VerifyReport> VerifyStore(const Store& store);

}  // namespace strata::store
