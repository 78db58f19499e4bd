// References to images in a registry, read as docker and podman read them (the grammar of
// distribution/reference): "nginx" is docker.io/library/nginx:latest, "user/repo:tag" is on
// docker.io, "host[:port]/path/repo:tag" (a first component with a '.' or ':', or
// "localhost") names its registry, "repo@sha256:..." pins a digest. Pure; thread-safe.
#pragma once

#include <string>

#include "fs/base/status.h"

namespace strata::store {

struct RemoteRef {
  std::string registry;    // "docker.io", "quay.io", "127.0.0.1:5000"
  std::string repository;  // "library/nginx"
  std::string tag;         // "latest" unless a digest alone was given
  std::string digest;      // "sha256:..." or ""

  // "docker.io/library/nginx:1.25" (with "@sha256:..." when pinned), the name a pull gives.
  std::string Name() const;
  // What the manifest is fetched by: the digest if pinned, else the tag.
  const std::string& Reference() const { return digest.empty() ? tag : digest; }
  // The host serving the registry API: registry-1.docker.io for docker.io.
  std::string ApiHost() const;
  // Registries on the loopback (localhost, 127.0.0.1, [::1]) may be plain HTTP, as podman
  // allows them to be.
  bool Loopback() const;
};

// Errors: EINVAL naming what is wrong (empty, uppercase or bad characters in the repository,
// a bad tag or digest, a name too long).
Result<RemoteRef> ParseRemoteRef(const std::string& text);

}  // namespace strata::store
