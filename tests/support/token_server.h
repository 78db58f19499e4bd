// A token service for a loopback docker-registry (distribution's "token" auth): it signs
// RS256 JWTs with a key whose self-signed certificate (cert_path(), the registry's
// rootcertbundle) travels in the token's x5c header, and grants what the scope asks to USER
// with PASSWORD (Basic), nothing to anyone else (401). Built on ScriptedServer; stopped when
// the object goes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tests/support/http_server.h"

namespace strata::testing {

class TokenServer {
 public:
  TokenServer(const std::string& dir, std::string user, std::string password);
  ~TokenServer();
  TokenServer(const TokenServer&) = delete;
  TokenServer& operator=(const TokenServer&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  std::string realm() const { return "http://" + server_->host() + "/token"; }
  static constexpr const char* kService = "strata-test-registry";
  static constexpr const char* kIssuer = "strata-test-token-service";
  const std::string& cert_path() const { return cert_path_; }
  // The scope parameters of every token request so far ("repository:x:pull,push").
  std::vector<std::string> Scopes() const;

 private:
  ScriptedReply Issue(const SeenRequest& request);

  std::string user_, password_;
  std::string cert_path_;
  std::string cert_der_base64_;
  void* key_ = nullptr;  // EVP_PKEY
  bool ok_ = false;
  std::string error_;
  std::unique_ptr<ScriptedServer> server_;
};

}  // namespace strata::testing
