#include "layerstore/registry/login.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "layerstore/registry/registry_client.h"

namespace strata::store {
namespace {

std::string Registry(const std::string& given) {
  return given.empty() || given == "index.docker.io" || given == "registry-1.docker.io"
             ? "docker.io"
             : given;
}

}  // namespace

Status Login(const std::string& registry_name, const Credentials& credentials,
             const LoginOptions& options, Http* http) {
  RemoteRef ref;
  ref.registry = Registry(registry_name);
  std::unique_ptr<Http> owned = http ? nullptr : MakeHttp();
  RegistryClient client(http ? *http : *owned, ref,
                        RegistryOptions{options.tls_verify, credentials});
  STRATA_RETURN_IF_ERROR(client.Ping());
  const std::string file = options.auth_file.empty() ? AuthFile() : options.auth_file;
  return UpdateAuthFile(file, ref.registry, credentials);
}

Status Logout(const std::string& registry_name, const LoginOptions& options) {
  const std::string registry = Registry(registry_name);
  const std::string file = options.auth_file.empty() ? AuthFile() : options.auth_file;
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("auths") || !j["auths"].is_object() ||
      !j["auths"].contains(registry)) {
    return Fail(ENOENT, "not logged in to " + registry + " (" + file + ")");
  }
  return UpdateAuthFile(file, registry, std::nullopt);
}

}  // namespace strata::store
