// `strata login` / `logout`: credentials checked against the registry, then kept in the auth
// file podman and skopeo read (auth.h AuthFile), so every tool shares one login.
#pragma once

#include <string>

#include "fs/base/status.h"
#include "layerstore/registry/auth.h"
#include "layerstore/registry/http.h"

namespace strata::store {

struct LoginOptions {
  bool tls_verify = true;
  std::string auth_file;  // default: AuthFile()
};

// Authenticates to REGISTRY ("docker.io", "host:port") with CREDENTIALS (GET /v2/ as the
// registry challenges it) and, if it accepts them, records them. Errors: EACCES when the
// registry refuses them (nothing is written), the transport's errno, or UpdateAuthFile's.
Status Login(const std::string& registry, const Credentials& credentials,
             const LoginOptions& options, Http* http = nullptr);
// Forgets REGISTRY's credentials in the auth file. Errors: ENOENT if it had none.
Status Logout(const std::string& registry, const LoginOptions& options);

}  // namespace strata::store
