// A real registry for tests: Debian's docker-registry (distribution v2) started on 127.0.0.1
// at a free port with a filesystem store in DIR, optionally requiring Basic auth (htpasswd),
// and stopped by pid (SIGTERM, then SIGKILL) when the object goes, also if the test failed.
// Its request log (one line per request) tells what clients fetched.
#pragma once

#include <sys/types.h>

#include <string>

namespace strata::testing {

inline constexpr const char* kDockerRegistry = "/usr/bin/docker-registry";

// Token auth (distribution's auth.token): clients get bearer tokens from REALM.
struct TokenAuth {
  std::string realm, service, issuer, rootcertbundle;
};

class LoopbackRegistry {
 public:
  // USER and PASSWORD non-empty: every request needs them (Basic).
  explicit LoopbackRegistry(const std::string& dir, const std::string& user = "",
                            const std::string& password = "");
  // Every request needs a token of TOKEN's service (tests/support/token_server.h).
  LoopbackRegistry(const std::string& dir, const TokenAuth& token);
  ~LoopbackRegistry();
  LoopbackRegistry(const LoopbackRegistry&) = delete;
  LoopbackRegistry& operator=(const LoopbackRegistry&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  // "127.0.0.1:PORT"
  const std::string& host() const { return host_; }
  // Requests served so far whose method is METHOD and whose path contains PART.
  int Requests(const std::string& method, const std::string& part) const;
  std::string Log() const;

 private:
  void Start(const std::string& dir, const std::string& auth_config);
  std::string log_path_;
  std::string host_;
  pid_t pid_ = -1;
  bool ok_ = false;
  std::string error_;
};

}  // namespace strata::testing
