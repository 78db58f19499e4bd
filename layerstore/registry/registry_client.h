// A client of one repository of a registry (OCI distribution spec): manifests by tag or
// digest, blobs streamed into a file, each verified against its digest and size before it is
// returned. Authenticates as the registry asks (anonymous or Basic-authenticated bearer
// tokens, Basic), with credentials from FindCredentials or given. Registries on the loopback,
// or with tls_verify off, may answer plain HTTP (tried after HTTPS fails). Not thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fs/base/status.h"
#include "layerstore/digest.h"
#include "layerstore/registry/auth.h"
#include "layerstore/registry/http.h"
#include "layerstore/registry/remote_ref.h"

namespace strata::store {

struct RegistryOptions {
  bool tls_verify = true;
  std::optional<Credentials> credentials;  // default: FindCredentials(registry)
  bool push = false;  // tokens for "pull,push" where a challenge names no scope
};

struct FetchedManifest {
  std::string body;        // byte for byte as served
  std::string media_type;  // Content-Type (parameters dropped), else the body's mediaType
  Digest digest;           // sha256 of the body (checked against a pinned digest and the
                           // registry's Docker-Content-Digest)
};

class RegistryClient {
 public:
  RegistryClient(Http& http, RemoteRef ref, RegistryOptions options);
  // A client of the same repository over another HTTP connection, taking over what OTHER has
  // learned (scheme, token): for fetching in parallel.
  RegistryClient(Http& http, const RegistryClient& other)
      : http_(http),
        ref_(other.ref_),
        options_(other.options_),
        scheme_(other.scheme_),
        authorization_(other.authorization_) {}

  const RemoteRef& ref() const { return ref_; }
  // GET /v2/, authenticating as challenged (a login check). Errors: EACCES when the registry
  // refuses the credentials, or the transport's errno.
  Status Ping();
  // The manifest or index REFERENCE (a tag or "sha256:...") names, at most 4 MiB.
  // Errors: ENOENT (unknown), EACCES (denied), EINVAL (a digest that does not match, a
  // document too big), or the transport's errno.
  Result<FetchedManifest> Manifest(const std::string& reference);
  // Streams blob DIGEST into FD (at its offset), checking SIZE and the sha256 on the way; a
  // connection that drops or stalls is resumed where it stopped (a Range request; from the
  // start if the registry ignores it), 4 attempts in all. A set CANCEL stops it (ECANCELED).
  // Errors: EINVAL for a digest or size mismatch, ENOENT, EACCES, or the transport's errno.
  Status Blob(const Digest& digest, uint64_t size, int fd,
              const std::atomic<bool>* cancel = nullptr);

  // --- push ---
  // Whether the repository has blob DIGEST (HEAD). Errors: EACCES, or the transport's errno.
  Result<bool> HasBlob(const Digest& digest);
  // Puts blob DIGEST (SIZE bytes of FD from offset 0) into the repository: mounted from
  // repository FROM of the same registry if FROM is given and the registry has it there (no
  // transfer; returns true), else uploaded (POST, then one PUT with the data; false).
  // Errors: EINVAL if the registry computes another digest, EACCES, EIO with the registry's
  // message, or the transport's errno.
  Result<bool> PushBlob(const Digest& digest, int fd, uint64_t size, const std::string& from);
  // PUTs manifest BODY (MEDIA_TYPE, sha256 DIGEST) as REFERENCE (a tag, or DIGEST). Errors:
  // EINVAL if the registry names another digest, EACCES, EIO with the registry's message (a
  // blob it lacks, a manifest it refuses), or the transport's errno.
  Status PutManifest(const std::string& reference, const std::string& body,
                     const std::string& media_type, const Digest& digest);

 private:
  struct Call {
    std::string method = "GET";
    std::string target;  // a path under /v2/, or a Location (absolute, or a path from /)
    std::vector<std::string> headers;
    std::string body;  // or BODY_SIZE bytes of BODY_FD (HttpRequest)
    int body_fd = -1;
    uint64_t body_size = 0;
  };
  // CALL, finding the scheme on the first request and authenticating once if challenged.
  Result<HttpResponse> Do(const Call& call, size_t max_body, const BodySink& sink);
  Result<HttpResponse> Send(const Call& call, size_t max_body, const BodySink& sink);
  // GET PATH (under /v2/) with ACCEPT.
  Result<HttpResponse> Get(const std::string& path, const std::string& accept, size_t max_body,
                           const BodySink& sink);
  std::string Url(const std::string& target) const;
  Status Authenticate(const HttpResponse& challenge);
  // Certificates are checked unless asked not to, or on the loopback (where the registry may
  // well be plain HTTP).
  bool VerifyTls() const { return options_.tls_verify && !ref_.Loopback(); }
  Unexpected StatusError(const HttpResponse& r, const std::string& what) const;

  Http& http_;
  RemoteRef ref_;
  RegistryOptions options_;
  std::string scheme_;         // "https" or "http", once known
  std::string authorization_;  // "Authorization: ..." header, once authenticated
};

}  // namespace strata::store
