#include "layerstore/registry/http.h"

#include <curl/curl.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <mutex>

namespace strata::store {
namespace {

struct Transfer {
  CURL* curl = nullptr;
  HttpResponse* response = nullptr;
  const BodySink* sink = nullptr;
  size_t max_body = 0;
  size_t received = 0;
  bool too_big = false;
  bool cancelled = false;
  const HttpRequest* request = nullptr;
  uint64_t sent = 0;  // of the request body
  int read_errno = 0;
};

size_t OnRead(char* buffer, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const HttpRequest& r = *t->request;
  const uint64_t total = r.body_fd >= 0 ? r.body_size : r.body.size();
  const size_t want = static_cast<size_t>(std::min<uint64_t>(size * n, total - t->sent));
  if (want == 0) return 0;
  if (r.body_fd < 0) {
    std::memcpy(buffer, r.body.data() + t->sent, want);
    t->sent += want;
    return want;
  }
  for (;;) {
    const ssize_t got = ::pread(r.body_fd, buffer, want, static_cast<off_t>(t->sent));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      t->read_errno = got < 0 ? errno : EIO;
      return CURL_READFUNC_ABORT;
    }
    t->sent += static_cast<uint64_t>(got);
    return static_cast<size_t>(got);
  }
}

// Rewinds the request body when curl must send it again (a redirect, an auth round).
int OnSeek(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0) return CURL_SEEKFUNC_CANTSEEK;
  t->sent = static_cast<uint64_t>(offset);
  return CURL_SEEKFUNC_OK;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  if (line.starts_with("HTTP/")) {
    t->response->headers.clear();  // a new response (after a redirect or a 100)
  } else if (const size_t colon = line.find(':'); colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    t->response->headers.emplace(name, value);  // the first of repeated headers
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t len = size * n;
  t->received += len;
  if (t->received > t->max_body) {
    t->too_big = true;
    return 0;
  }
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  // Only a successful response's body is the sink's: an error's is kept for the message.
  if (*t->sink && status >= 200 && status < 300) {
    if (!(*t->sink)(status, data, len)) {
      t->cancelled = true;
      return 0;
    }
  } else {
    t->response->body.append(data, len);
  }
  return len;
}

int ErrnoOf(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
      return ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return EHOSTUNREACH;
    case CURLE_OPERATION_TIMEDOUT:
      return ETIMEDOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
      return EPROTO;
    case CURLE_TOO_MANY_REDIRECTS:
      return ELOOP;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
      return ECONNRESET;
    default:
      return EIO;
  }
}

class CurlHttp : public Http {
 public:
  CurlHttp() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    curl_ = curl_easy_init();
  }
  ~CurlHttp() override {
    if (curl_) curl_easy_cleanup(curl_);
  }

  Result<HttpResponse> Send(const HttpRequest& request, size_t max_body,
                            const BodySink& sink) override {
    if (!curl_) return Fail(ENOMEM, "curl_easy_init");
    curl_easy_reset(curl_);
    HttpResponse response;
    Transfer t{curl_, &response, &sink, max_body};
    t.request = &request;
    curl_slist* headers = nullptr;
    for (const std::string& h : request.headers) headers = curl_slist_append(headers, h.c_str());
    const std::string& method = request.method;
    const bool fetch = method == "GET" || method == "HEAD";
    if (!fetch) headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
    curl_easy_setopt(curl_, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    if (method == "HEAD") curl_easy_setopt(curl_, CURLOPT_NOBODY, 1L);
    if (!fetch) {
      const uint64_t size = request.body_fd >= 0 ? request.body_size : request.body.size();
      curl_easy_setopt(curl_, CURLOPT_UPLOAD, 1L);  // PUT, renamed below for POST and PATCH
      curl_easy_setopt(curl_, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
      curl_easy_setopt(curl_, CURLOPT_READFUNCTION, OnRead);
      curl_easy_setopt(curl_, CURLOPT_READDATA, &t);
      curl_easy_setopt(curl_, CURLOPT_SEEKFUNCTION, OnSeek);
      curl_easy_setopt(curl_, CURLOPT_SEEKDATA, &t);
      if (method != "PUT") curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, fetch ? 1L : 0L);
    curl_easy_setopt(curl_, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(curl_, CURLOPT_UNRESTRICTED_AUTH, 0L);  // no credentials to another host
    curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl_, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYPEER, request.verify_tls ? 1L : 0L);
    curl_easy_setopt(curl_, CURLOPT_SSL_VERIFYHOST, request.verify_tls ? 2L : 0L);
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT, 30L);
    // A stalled transfer (under 1 KiB/s for a minute) fails rather than hangs.
    curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_USERAGENT, "strata/" STRATA_VERSION);
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &t);
    const CURLcode rc = curl_easy_perform(curl_);
    curl_slist_free_all(headers);
    if (t.too_big) {
      return Fail(EFBIG, request.url + ": more than " + std::to_string(max_body) + " bytes");
    }
    if (t.cancelled) return Fail(ECANCELED, request.url);
    if (t.read_errno != 0) return Fail(t.read_errno, request.url + ": read the request body");
    if (rc != CURLE_OK) {
      return Fail(ErrnoOf(rc), request.url + ": " + curl_easy_strerror(rc));
    }
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &response.status);
    char* effective = nullptr;
    curl_easy_getinfo(curl_, CURLINFO_EFFECTIVE_URL, &effective);
    if (effective) response.url = effective;
    return response;
  }

 private:
  CURL* curl_ = nullptr;
};

}  // namespace

std::unique_ptr<Http> MakeHttp() { return std::make_unique<CurlHttp>(); }

}  // namespace strata::store
