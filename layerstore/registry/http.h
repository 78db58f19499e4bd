// HTTP for the registry client, behind an interface (libcurl underneath, MakeHttp). Thread-
// compatible: one request at a time per object.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fs/base/status.h"

namespace strata::store {

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD, POST, PUT or PATCH
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  bool verify_tls = true;
  // The request body (POST, PUT, PATCH): BODY_SIZE bytes of BODY_FD from offset 0 (read with
  // pread, so a retry sends them again) if BODY_FD >= 0, else BODY.
  std::string body;
  int body_fd = -1;
  uint64_t body_size = 0;
};

struct HttpResponse {
  long status = 0;
  std::string url;                             // where the last redirect led
  std::map<std::string, std::string> headers;  // of the final response; names lowercased
  std::string body;                            // unless a sink took it
};

// Receives a successful (2xx) response's body in chunks, with its STATUS (200, or 206 for a
// Range request served in part); returning false aborts the transfer (ECANCELED).
using BodySink = std::function<bool(long status, const char* data, size_t size)>;

class Http {
 public:
  virtual ~Http() = default;
  // Sends REQUEST. GET and HEAD follow up to 5 redirects; headers given (Authorization too)
  // are never sent to another host than the first. Other methods follow none (a 202's Location
  // is the caller's). A successful (2xx) body goes to SINK if given, else into response.body;
  // at most MAX_BODY bytes (EFBIG beyond). Errors: ECONNREFUSED/EHOSTUNREACH/ETIMEDOUT/EPROTO
  // (TLS) and the like naming the URL; an HTTP error status is a response.
  virtual Result<HttpResponse> Send(const HttpRequest& request, size_t max_body,
                                    const BodySink& sink) = 0;
};

std::unique_ptr<Http> MakeHttp();

}  // namespace strata::store
