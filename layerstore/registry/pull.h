// `strata pull`: an image from a registry into the store. The manifest (or index, then the
// manifest of the wanted platform) is fetched by tag or digest and verified; layers the store
// already has (by diffID) are not downloaded; the others are streamed into the store's tmp/,
// verified (size, sha256) and extracted by the same rules as an import (importer.h), so a
// pulled image and the same image imported from an OCI layout are one image. The manifest is
// kept byte for byte.
#pragma once

#include <string>
#include <vector>

#include "fs/base/status.h"
#include "layerstore/import/oci_import.h"
#include "layerstore/registry/http.h"
#include "layerstore/registry/registry_client.h"
#include "layerstore/store.h"

namespace strata::store {

struct PullOptions {
  ImportOptions import;  // platform, all_platforms, on_layer; name: the reference's by default
  RegistryOptions registry;
};

// Errors: EINVAL for a bad reference or a document or blob that does not verify, ENOENT
// (unknown image, or none for the platform), EACCES (authentication), the transport's errno.
// Nothing is published unless it verified; an interrupted pull leaves only tmp/ garbage.
// HTTP defaults to libcurl (MakeHttp).
Result<std::vector<ImportedImage>> PullImage(Store& store, const std::string& reference,
                                             const PullOptions& options, Http* http = nullptr);

}  // namespace strata::store
