#include "layerstore/registry/registry_client.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

namespace strata::store {
namespace {

constexpr size_t kMaxManifest = 4 << 20;
constexpr const char* kManifestAccept =
    "Accept: application/vnd.oci.image.index.v1+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

}  // namespace

RegistryClient::RegistryClient(Http& http, RemoteRef ref, RegistryOptions options)
    : http_(http), ref_(std::move(ref)), options_(std::move(options)) {
  if (!options_.credentials) options_.credentials = FindCredentials(ref_.registry);
}

std::string RegistryClient::Url(const std::string& target) const {
  if (target.starts_with("http://") || target.starts_with("https://")) return target;
  if (target.starts_with("/")) return scheme_ + "://" + ref_.ApiHost() + target;  // a Location
  return scheme_ + "://" + ref_.ApiHost() + "/v2/" + target;
}

Result<HttpResponse> RegistryClient::Send(const Call& call, size_t max_body,
                                          const BodySink& sink) {
  HttpRequest req;
  req.method = call.method;
  req.url = Url(call.target);
  req.verify_tls = VerifyTls();
  req.headers = call.headers;
  req.body = call.body;
  req.body_fd = call.body_fd;
  req.body_size = call.body_size;
  // Credentials go only to the registry itself (an upload Location may name another host).
  const std::string own = scheme_ + "://" + ref_.ApiHost() + "/";
  if (!authorization_.empty() && req.url.starts_with(own)) req.headers.push_back(authorization_);
  return http_.Send(req, max_body, sink);
}

Result<HttpResponse> RegistryClient::Do(const Call& call, size_t max_body, const BodySink& sink) {
  const bool plain_allowed = ref_.Loopback() || !options_.tls_verify;
  Result<HttpResponse> r = Fail(EIO);
  if (scheme_.empty()) {
    scheme_ = "https";
    r = Send(call, max_body, sink);
    if (!r && plain_allowed) {
      scheme_ = "http";  // the registry speaks no TLS (allowed here): plain from now on
      r = Send(call, max_body, sink);
    }
    // Unknown again only if nothing answered (a transfer cut off mid-way did connect).
    if (!r && (r.error().code == ECONNREFUSED || r.error().code == EHOSTUNREACH ||
               r.error().code == EPROTO)) {
      scheme_.clear();
    }
  } else {
    r = Send(call, max_body, sink);
  }
  // Challenged: authenticate (again, if a token expired during a long transfer, or for the
  // push scope a pull token lacks) and retry once.
  if (r && r->status == 401) {
    STRATA_RETURN_IF_ERROR(Authenticate(*r));
    return Send(call, max_body, sink);
  }
  return r;
}

Result<HttpResponse> RegistryClient::Get(const std::string& path, const std::string& accept,
                                         size_t max_body, const BodySink& sink) {
  Call call;
  call.target = path;
  if (!accept.empty()) call.headers.push_back(accept);
  return Do(call, max_body, sink);
}

Status RegistryClient::Authenticate(const HttpResponse& r) {
  const auto h = r.headers.find("www-authenticate");
  if (h == r.headers.end()) return Fail(EACCES, ref_.registry + ": 401 without a challenge");
  STRATA_ASSIGN_OR_RETURN(Challenge c, ParseChallenge(h->second));
  const std::optional<Credentials>& creds = options_.credentials;
  if (c.scheme == "basic") {
    if (!creds) return Fail(EACCES, ref_.registry + ": authentication required (strata login)");
    authorization_ = "Authorization: Basic " + Base64(creds->user + ":" + creds->password);
    return Ok();
  }
  std::string url = c.params["realm"];
  url += url.find('?') == std::string::npos ? "?" : "&";
  if (!c.params["service"].empty()) url += "service=" + UrlEncode(c.params["service"]) + "&";
  // The scope the challenge names, else pulling this repository (none for a login check).
  const std::string scope = c.params.count("scope")   ? c.params["scope"]
                            : ref_.repository.empty() ? ""
                                                      : "repository:" + ref_.repository +
                                                            (options_.push ? ":pull,push" : ":pull");
  if (!scope.empty()) url += "scope=" + UrlEncode(scope);
  if (url.back() == '&' || url.back() == '?') url.pop_back();
  HttpRequest req;
  req.url = url;
  req.verify_tls = VerifyTls();
  if (creds) {
    req.headers.push_back("Authorization: Basic " + Base64(creds->user + ":" + creds->password));
  }
  STRATA_ASSIGN_OR_RETURN(HttpResponse t, http_.Send(req, 1 << 20, nullptr));
  if (t.status != 200) {
    return Fail(EACCES, ref_.registry + ": the token service answered HTTP " +
                            std::to_string(t.status) + (creds ? "" : " (strata login?)"));
  }
  const nlohmann::json j = nlohmann::json::parse(t.body, nullptr, false);
  std::string token;
  for (const char* key : {"token", "access_token"}) {
    if (token.empty() && j.is_object() && j.contains(key) && j[key].is_string()) token = j[key];
  }
  if (token.empty()) return Fail(EACCES, ref_.registry + ": the token service sent no token");
  authorization_ = "Authorization: Bearer " + token;
  return Ok();
}

Unexpected RegistryClient::StatusError(const HttpResponse& r, const std::string& what) const {
  std::string where = ref_.Name() + ": " + what + ": HTTP " + std::to_string(r.status);
  // The distribution spec's error body: {"errors": [{"code": ..., "message": ...}]}.
  const nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("errors") && j["errors"].is_array() && !j["errors"].empty() &&
      j["errors"][0].is_object()) {
    const nlohmann::json& e = j["errors"][0];
    const std::string code = e.value("code", ""), message = e.value("message", "");
    if (!code.empty() || !message.empty()) where += " (" + code + ": " + message + ")";
  }
  if (r.status == 401 || r.status == 403) return Fail(EACCES, where + " (access denied)");
  if (r.status == 404) return Fail(ENOENT, where + " (not found)");
  if (r.status == 429) return Fail(EBUSY, where + " (too many requests)");
  return Fail(EIO, where);
}

Status RegistryClient::Ping() {
  STRATA_ASSIGN_OR_RETURN(HttpResponse r, Get("", "", 1 << 20, nullptr));
  if (r.status == 401 || r.status == 403) {
    return Fail(EACCES, ref_.registry + ": the registry refused the credentials");
  }
  if (r.status != 200) return StatusError(r, "/v2/");
  return Ok();
}

Result<FetchedManifest> RegistryClient::Manifest(const std::string& reference) {
  const std::string what = "manifest " + reference;
  STRATA_ASSIGN_OR_RETURN(HttpResponse r, Get(ref_.repository + "/manifests/" + reference,
                                              kManifestAccept, kMaxManifest, nullptr));
  if (r.status != 200) return StatusError(r, what);
  FetchedManifest m;
  m.body = std::move(r.body);
  m.digest = Sha256Of(m.body);
  if (reference.starts_with("sha256:") && m.digest.String() != reference) {
    return Fail(EINVAL, ref_.Name() + ": " + what + " was served with sha256 " +
                            m.digest.String());
  }
  if (auto h = r.headers.find("docker-content-digest");
      h != r.headers.end() && h->second.starts_with("sha256:") && h->second != m.digest.String()) {
    return Fail(EINVAL, ref_.Name() + ": " + what + ": Docker-Content-Digest " + h->second +
                            " is not the sha256 of what was served (" + m.digest.String() + ")");
  }
  if (auto h = r.headers.find("content-type"); h != r.headers.end()) {
    m.media_type = h->second.substr(0, h->second.find(';'));
    while (!m.media_type.empty() && m.media_type.back() == ' ') m.media_type.pop_back();
  }
  return m;
}

Status RegistryClient::Blob(const Digest& digest, uint64_t size, int fd,
                            const std::atomic<bool>* cancel) {
  const std::string what = "blob " + digest.String();
  const off_t start = ::lseek(fd, 0, SEEK_CUR);
  if (start < 0) return FailErrno("seek " + what);
  auto hash = std::make_unique<Sha256>();
  uint64_t written = 0;
  int write_errno = 0;
  // Bytes of this attempt's response go after what earlier attempts kept, unless the registry
  // ignored the Range and sends the blob from its start (200): then it starts over.
  uint64_t resumed_from = 0;
  bool first_chunk = true;
  BodySink sink = [&](long status, const char* data, size_t n) {
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) return false;
    if (first_chunk) {
      first_chunk = false;
      if (resumed_from > 0 && status != 206) {
        if (::ftruncate(fd, start) != 0 || ::lseek(fd, start, SEEK_SET) != start) {
          write_errno = errno;
          return false;
        }
        hash = std::make_unique<Sha256>();
        written = 0;
      }
    }
    hash->Update(data, n);
    written += n;
    for (size_t done = 0; done < n;) {
      const ssize_t w = ::write(fd, data + done, n - done);
      if (w < 0) {
        if (errno == EINTR) continue;
        write_errno = errno;
        return false;
      }
      done += static_cast<size_t>(w);
    }
    return true;
  };
  // A connection dropped or stalled mid-blob is resumed where it stopped (Range), up to
  // kAttempts times in all.
  constexpr int kAttempts = 4;
  Result<HttpResponse> r = Fail(EIO);
  for (int attempt = 1;; ++attempt) {
    Call call;
    call.target = ref_.repository + "/blobs/" + digest.String();
    resumed_from = written;
    first_chunk = true;
    if (written > 0) call.headers.push_back("Range: bytes=" + std::to_string(written) + "-");
    r = Do(call, size, sink);
    const bool dropped = !r && write_errno == 0 &&
                         (r.error().code == ECONNRESET || r.error().code == ETIMEDOUT ||
                          r.error().code == EIO);
    if (!dropped || attempt == kAttempts || written >= size) break;
    ::usleep(static_cast<useconds_t>(200000 * attempt));
  }
  if (!r) {
    if (write_errno != 0) return Fail(write_errno, "write " + what);
    if (r.error().code == EFBIG) {
      return Fail(EINVAL, ref_.Name() + ": " + what + " is larger than its descriptor's " +
                              std::to_string(size) + " bytes");
    }
    return Unexpected{r.error()};
  }
  if (r->status != 200 && r->status != 206) return StatusError(*r, what);
  if (written != size) {
    return Fail(EINVAL, ref_.Name() + ": " + what + " has " + std::to_string(written) +
                            " bytes, its descriptor says " + std::to_string(size));
  }
  if (!(hash->Finish() == digest)) {
    return Fail(EINVAL, ref_.Name() + ": " + what + ": the data served does not match it");
  }
  return Ok();
}

Result<bool> RegistryClient::HasBlob(const Digest& digest) {
  Call call;
  call.method = "HEAD";
  call.target = ref_.repository + "/blobs/" + digest.String();
  STRATA_ASSIGN_OR_RETURN(HttpResponse r, Do(call, 1 << 20, nullptr));
  if (r.status == 200) return true;
  if (r.status == 404) return false;
  return StatusError(r, "blob " + digest.String());
}

Result<bool> RegistryClient::PushBlob(const Digest& digest, int fd, uint64_t size,
                                      const std::string& from) {
  const std::string what = "upload of blob " + digest.String();
  Call start;
  start.method = "POST";
  start.target = ref_.repository + "/blobs/uploads/";
  if (!from.empty()) {
    start.target += "?mount=" + UrlEncode(digest.String()) + "&from=" + UrlEncode(from);
  }
  STRATA_ASSIGN_OR_RETURN(HttpResponse r, Do(start, 1 << 20, nullptr));
  if (r.status == 201 && !from.empty()) return true;  // mounted: nothing to send
  if (r.status != 202) return StatusError(r, what);
  const auto location = r.headers.find("location");
  if (location == r.headers.end() || location->second.empty()) {
    return Fail(EIO, ref_.Name() + ": " + what + ": the registry gave no upload location");
  }
  Call put;
  put.method = "PUT";
  put.target = location->second;
  put.target += (put.target.find('?') == std::string::npos ? "?" : "&");
  put.target += "digest=" + UrlEncode(digest.String());
  put.headers = {"Content-Type: application/octet-stream"};
  put.body_fd = fd;
  put.body_size = size;
  STRATA_ASSIGN_OR_RETURN(HttpResponse done, Do(put, 1 << 20, nullptr));
  if (done.status != 201) return StatusError(done, what);
  if (auto h = done.headers.find("docker-content-digest");
      h != done.headers.end() && h->second != digest.String()) {
    return Fail(EINVAL, ref_.Name() + ": " + what + ": the registry stored " + h->second);
  }
  return false;
}

Status RegistryClient::PutManifest(const std::string& reference, const std::string& body,
                                   const std::string& media_type, const Digest& digest) {
  const std::string what = "manifest " + reference;
  Call put;
  put.method = "PUT";
  put.target = ref_.repository + "/manifests/" + reference;
  put.headers = {"Content-Type: " + media_type};
  put.body = body;
  STRATA_ASSIGN_OR_RETURN(HttpResponse r, Do(put, 1 << 20, nullptr));
  if (r.status != 201) return StatusError(r, what);
  if (auto h = r.headers.find("docker-content-digest");
      h != r.headers.end() && h->second != digest.String()) {
    return Fail(EINVAL, ref_.Name() + ": " + what + ": the registry stored it as " + h->second +
                            ", not " + digest.String());
  }
  return Ok();
}

}  // namespace strata::store
