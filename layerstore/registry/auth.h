// Registry authentication, as the distribution spec and docker do it: the challenge a 401
// carries (WWW-Authenticate: Basic realm=... or Bearer realm=...,service=...,scope=...), and
// the credentials people already keep for podman/skopeo (containers auth.json) and docker
// (~/.docker/config.json). Credentials are never logged or put in error messages. Pure apart
// from reading those files; thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "fs/base/status.h"

namespace strata::store {

struct Challenge {
  std::string scheme;                         // "basic" or "bearer" (lowercased)
  std::map<std::string, std::string> params;  // realm, service, scope, ... (names lowercased)
};

// The first challenge of a WWW-Authenticate value. Errors: EINVAL for a malformed one.
Result<Challenge> ParseChallenge(const std::string& header);

struct Credentials {
  std::string user;
  std::string password;
};

// Credentials for REGISTRY ("docker.io", "127.0.0.1:5000") from the first file that has them:
// $REGISTRY_AUTH_FILE, else podman's own (AuthFile()), then ~/.config/containers/auth.json and
// ~/.docker/config.json ("auths" entries with a base64 "auth"; docker.io is also found under
// docker's "https://index.docker.io/v1/").
std::optional<Credentials> FindCredentials(const std::string& registry);

// The file `strata login` writes, as podman: $REGISTRY_AUTH_FILE, else
// $XDG_RUNTIME_DIR/containers/auth.json, else /run/containers/$UID/auth.json.
std::string AuthFile();
// Sets (CREDENTIALS given) or removes REGISTRY's entry in auth file PATH, keeping every other
// entry and key; the file is replaced atomically, mode 0600 (its directory made 0700 if
// missing). Errors: EINVAL for a file that is not an auth file, or the errno of the I/O.
Status UpdateAuthFile(const std::string& path, const std::string& registry,
                      const std::optional<Credentials>& credentials);

// The same lookup in one file's text (for tests).
std::optional<Credentials> CredentialsIn(const std::string& auth_json, const std::string& registry);

std::string Base64(const std::string& data);

}  // namespace strata::store
