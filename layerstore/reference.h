// Image references as podman and skopeo spell them: "name[:tag]", "name@sha256:...",
// "sha256:ID", or an image-ID prefix. Names without a registry get "localhost/", names without
// a tag get ":latest". Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fs/base/status.h"
#include "layerstore/digest.h"

namespace strata::store {

// "busybox" -> "localhost/busybox:latest"; "quay.io/a/b" -> "quay.io/a/b:latest".
// Errors: EINVAL for an empty name, whitespace, or uppercase in the repository.
Result<std::string> NormalizeName(const std::string& name);

// The repository of normalised NAME: "docker.io/library/nginx:1.25" -> "docker.io/library/nginx".
std::string RepositoryOf(const std::string& name);

// Finds the image REF names among NAMES (name -> id) and IDS (all image ids). A full or
// prefix ID (12+ hex digits, optionally "sha256:") matches ids; otherwise the normalised
// name must be known, or a short name must match exactly one name under some registry
// ("app:v1" finds "docker.io/library/app:v1"). Errors: ENOENT (no match), EINVAL (ambiguous prefix,
// bad reference).
Result<Digest> ResolveReference(const std::string& ref,
                                const std::vector<std::pair<std::string, Digest>>& names,
                                const std::vector<Digest>& ids);

// As ResolveReference, also saying which stored name matched ("" when REF was an ID).
struct Resolved {
  Digest id;
  std::string name;
  // REF was NAME@sha256:... naming one of the manifests the image was received with
  // (ResolveImage), not its ID.
  std::optional<Digest> manifest;
};
Result<Resolved> ResolveReferenceName(const std::string& ref,
                                      const std::vector<std::pair<std::string, Digest>>& names,
                                      const std::vector<Digest>& ids);

}  // namespace strata::store
