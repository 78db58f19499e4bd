// RegistryClient against a scripted HTTP peer (no network): the bearer-token flow (challenge,
// token request with the scope and the credentials, retry with the token), Basic, plain HTTP
// only where allowed, and the checks on what registries send (pinned digests,
// Docker-Content-Digest, blob sizes and sha256), and the push protocol (HEAD, cross-repository
// mount, POST then PUT to the Location, the manifest PUT).
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <functional>

#include "layerstore/registry/registry_client.h"

namespace strata::store {
namespace {

struct Seen {
  std::string url;
  std::vector<std::string> headers;
  bool verify_tls = true;
  std::string method = "GET";
  std::string body;  // the request body, read as the transport would
  bool Has(const std::string& header) const {
    for (const auto& h : headers) {
      if (h == header) return true;
    }
    return false;
  }
};

// Answers each GET with what HANDLER returns (an error for a transport failure).
class ScriptedHttp : public Http {
 public:
  std::function<Result<HttpResponse>(const Seen&)> handler;
  std::vector<Seen> seen;

  Result<HttpResponse> Send(const HttpRequest& request, size_t max_body,
                            const BodySink& sink) override {
    std::string body = request.body;
    if (request.body_fd >= 0) {
      body.resize(request.body_size);
      if (::pread(request.body_fd, body.data(), body.size(), 0) !=
          static_cast<ssize_t>(body.size())) {
        return Fail(EIO, "short body");
      }
    }
    seen.push_back({request.url, request.headers, request.verify_tls, request.method, body});
    STRATA_ASSIGN_OR_RETURN(HttpResponse r, handler(seen.back()));
    if (r.body.size() > max_body) return Fail(EFBIG, request.url);
    if (sink && r.status >= 200 && r.status < 300) {
      if (!sink(r.status, r.body.data(), r.body.size())) return Fail(ECANCELED, request.url);
      r.body.clear();
    }
    return r;
  }
};

HttpResponse Response(long status, std::string body = "",
                      std::map<std::string, std::string> headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

RemoteRef Ref(const std::string& text) { return *ParseRemoteRef(text); }

TEST(RegistryClientTest, BearerTokenFlow) {
  ScriptedHttp http;
  const std::string manifest = R"({"schemaVersion":2})";
  http.handler = [&](const Seen& s) -> Result<HttpResponse> {
    if (s.url.starts_with("https://auth.example/token")) {
      return Response(200, R"({"token":"T0K"})");
    }
    if (!s.Has("Authorization: Bearer T0K")) {
      return Response(401, "", {{"www-authenticate",
                                 R"(Bearer realm="https://auth.example/token",service="reg.example")"}});
    }
    return Response(200, manifest, {{"content-type", "application/vnd.oci.image.manifest.v1+json"}});
  };
  RegistryOptions options;
  options.credentials = Credentials{"me", "pw"};
  RegistryClient client(http, Ref("reg.example/team/app:1"), options);
  auto m = client.Manifest("1");
  ASSERT_TRUE(m) << m.error().Message();
  EXPECT_EQ(m->body, manifest);
  EXPECT_EQ(m->media_type, "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ(m->digest, Sha256Of(manifest));
  ASSERT_EQ(http.seen.size(), 3u);
  EXPECT_EQ(http.seen[0].url, "https://reg.example/v2/team/app/manifests/1");
  EXPECT_EQ(http.seen[1].url,
            "https://auth.example/token?service=reg.example&scope=repository%3Ateam%2Fapp%3Apull");
  EXPECT_TRUE(http.seen[1].Has("Authorization: Basic " + Base64("me:pw")));
  EXPECT_TRUE(http.seen[2].Has("Authorization: Bearer T0K"));
  EXPECT_TRUE(http.seen[2].verify_tls);
  // The token is kept: the next request goes straight through.
  ASSERT_TRUE(client.Manifest("1"));
  EXPECT_EQ(http.seen.size(), 4u);
  // Once it expires, the registry challenges again: a new token, one retry.
  bool expired = true;
  http.handler = [&](const Seen& s) -> Result<HttpResponse> {
    if (s.url.starts_with("https://auth.example/token")) return Response(200, R"({"access_token":"NEW"})");
    if (expired || !s.Has("Authorization: Bearer NEW")) {
      expired = false;
      return Response(401, "", {{"www-authenticate", R"(Bearer realm="https://auth.example/token")"}});
    }
    return Response(200, manifest);
  };
  ASSERT_TRUE(client.Manifest("1"));
  EXPECT_EQ(http.seen.size(), 7u);
}

TEST(RegistryClientTest, LoginPingAsksForATokenWithoutAScope) {
  ScriptedHttp http;
  http.handler = [&](const Seen& s) -> Result<HttpResponse> {
    if (s.url.starts_with("https://auth.example/token")) {
      return s.Has("Authorization: Basic " + Base64("me:pw")) ? Response(200, R"({"token":"T"})")
                                                             : Response(401);
    }
    if (!s.Has("Authorization: Bearer T")) {
      return Response(401, "", {{"www-authenticate",
                                 R"(Bearer realm="https://auth.example/token",service="svc")"}});
    }
    return Response(200, "{}");
  };
  RemoteRef registry_only;
  registry_only.registry = "reg.example";
  RegistryClient good(http, registry_only, RegistryOptions{true, Credentials{"me", "pw"}});
  ASSERT_TRUE(good.Ping());
  EXPECT_EQ(http.seen[0].url, "https://reg.example/v2/");
  EXPECT_EQ(http.seen[1].url, "https://auth.example/token?service=svc");
  RegistryClient bad(http, registry_only, RegistryOptions{true, Credentials{"me", "no"}});
  auto refused = bad.Ping();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, EACCES);
}

TEST(RegistryClientTest, BasicAndMissingCredentials) {
  ScriptedHttp http;
  http.handler = [&](const Seen& s) -> Result<HttpResponse> {
    if (!s.Has("Authorization: Basic " + Base64("u:p"))) {
      return Response(401, "", {{"www-authenticate", R"(Basic realm="r")"}});
    }
    return Response(200, "{}");
  };
  RegistryClient anonymous(http, Ref("reg.example/a"), RegistryOptions{true, std::nullopt});
  // (FindCredentials found nothing for reg.example in this environment.)
  auto denied = anonymous.Manifest("latest");
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, EACCES);
  EXPECT_NE(denied.error().context.find("authentication required"), std::string::npos);
  RegistryClient basic(http, Ref("reg.example/a"), RegistryOptions{true, Credentials{"u", "p"}});
  ASSERT_TRUE(basic.Manifest("latest"));
}

TEST(RegistryClientTest, PlainHttpOnlyOnTheLoopbackOrWhenAsked) {
  ScriptedHttp http;
  http.handler = [&](const Seen& s) -> Result<HttpResponse> {
    if (s.url.starts_with("https://")) return Fail(EPROTO, "no TLS here");
    return Response(200, "{}");
  };
  RegistryClient loopback(http, Ref("127.0.0.1:5000/a"), RegistryOptions{});
  ASSERT_TRUE(loopback.Manifest("latest"));
  EXPECT_EQ(http.seen.back().url, "http://127.0.0.1:5000/v2/a/manifests/latest");
  EXPECT_FALSE(http.seen.front().verify_tls) << "loopback registries' certificates are not checked";
  http.seen.clear();
  RegistryClient remote(http, Ref("reg.example/a"), RegistryOptions{true, Credentials{}});
  auto refused = remote.Manifest("latest");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, EPROTO);
  EXPECT_EQ(http.seen.size(), 1u) << "no plain HTTP fallback";
  RegistryClient insecure(http, Ref("reg.example/a"), RegistryOptions{false, Credentials{}});
  ASSERT_TRUE(insecure.Manifest("latest"));
  EXPECT_EQ(http.seen.back().url, "http://reg.example/v2/a/manifests/latest");
}

TEST(RegistryClientTest, WhatRegistriesSendIsChecked) {
  ScriptedHttp http;
  const std::string body = R"({"schemaVersion":2})";
  std::map<std::string, std::string> headers;
  http.handler = [&](const Seen&) -> Result<HttpResponse> { return Response(200, body, headers); };
  RegistryClient client(http, Ref("reg.example/a"), RegistryOptions{true, Credentials{}});
  const std::string other = "sha256:" + std::string(64, 'a');
  auto pinned = client.Manifest(other);
  ASSERT_FALSE(pinned);
  EXPECT_EQ(pinned.error().code, EINVAL) << "served something else than the digest asked for";
  headers["docker-content-digest"] = other;
  auto lying = client.Manifest("latest");
  ASSERT_FALSE(lying);
  EXPECT_EQ(lying.error().code, EINVAL);
  headers.clear();

  const int fd = ::memfd_create("blob", MFD_CLOEXEC);
  const Digest digest = Sha256Of(body);
  EXPECT_TRUE(client.Blob(digest, body.size(), fd));
  auto short_size = client.Blob(digest, body.size() + 1, fd);
  ASSERT_FALSE(short_size);
  EXPECT_EQ(short_size.error().code, EINVAL);
  auto too_big = client.Blob(digest, body.size() - 1, fd);
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.error().code, EINVAL);
  auto wrong = client.Blob(Sha256Of("else"), body.size(), fd);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, EINVAL);
  ::close(fd);

  http.handler = [&](const Seen&) -> Result<HttpResponse> { return Response(404, "{}"); };
  auto missing = client.Manifest("nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
}

TEST(RegistryClientTest, PushMountsOrUploadsToTheLocationAndPutsTheManifest) {
  ScriptedHttp http;
  const std::string data = "layer bytes";
  const Digest digest = Sha256Of(data);
  bool mountable = false;
  http.handler = [&](const Seen& s) -> Result<HttpResponse> {
    if (s.method == "HEAD") return Response(404);
    if (s.method == "POST" && s.url.find("mount=") != std::string::npos && mountable) {
      return Response(201);
    }
    if (s.method == "POST") {
      // A relative Location, and one with a query of its own.
      return Response(202, "", {{"location", "/v2/a/blobs/uploads/u1?_state=x"}});
    }
    if (s.method == "PUT" && s.url.find("/blobs/uploads/") != std::string::npos) {
      return Response(201, "", {{"docker-content-digest", digest.String()}});
    }
    if (s.method == "PUT") return Response(201, "", {{"docker-content-digest", digest.String()}});
    return Response(500);
  };
  RegistryClient client(http, Ref("reg.example/a"), RegistryOptions{true, Credentials{}});
  auto has = client.HasBlob(digest);
  ASSERT_TRUE(has);
  EXPECT_FALSE(*has);
  EXPECT_EQ(http.seen.back().url, "https://reg.example/v2/a/blobs/" + digest.String());

  const int fd = ::memfd_create("blob", MFD_CLOEXEC);
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  auto uploaded = client.PushBlob(digest, fd, data.size(), "");
  ASSERT_TRUE(uploaded) << uploaded.error().Message();
  EXPECT_FALSE(*uploaded);
  ASSERT_GE(http.seen.size(), 2u);
  const Seen& put = http.seen.back();
  EXPECT_EQ(put.method, "PUT");
  EXPECT_EQ(put.url, "https://reg.example/v2/a/blobs/uploads/u1?_state=x&digest=sha256%3A" +
                         digest.encoded);
  EXPECT_EQ(put.body, data) << "the blob, sent whole";
  EXPECT_EQ(http.seen[http.seen.size() - 2].method, "POST");

  mountable = true;
  auto mounted = client.PushBlob(digest, fd, data.size(), "other/repo");
  ASSERT_TRUE(mounted);
  EXPECT_TRUE(*mounted);
  EXPECT_EQ(http.seen.back().url, "https://reg.example/v2/a/blobs/uploads/?mount=sha256%3A" +
                                      digest.encoded + "&from=other%2Frepo");
  ::close(fd);

  ASSERT_TRUE(client.PutManifest("v1", data, "application/vnd.oci.image.manifest.v1+json", digest));
  EXPECT_EQ(http.seen.back().url, "https://reg.example/v2/a/manifests/v1");
  EXPECT_TRUE(http.seen.back().Has("Content-Type: application/vnd.oci.image.manifest.v1+json"));
  auto lying = client.PutManifest("v1", data, "x", Sha256Of("other"));
  ASSERT_FALSE(lying);
  EXPECT_EQ(lying.error().code, EINVAL) << "the registry stored another digest";

  http.handler = [&](const Seen&) -> Result<HttpResponse> {
    return Response(400, R"({"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"blob unknown"}]})");
  };
  auto refused = client.PutManifest("v1", data, "x", digest);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, EIO);
  EXPECT_NE(refused.error().Message().find("MANIFEST_BLOB_UNKNOWN"), std::string::npos)
      << refused.error().Message();
}

TEST(RegistryClientTest, PushTokensAskForThePushScopeAndStayWithTheRegistry) {
  ScriptedHttp http;
  std::string token_url;
  http.handler = [&](const Seen& s) -> Result<HttpResponse> {
    if (s.url.starts_with("https://auth.example/")) {
      token_url = s.url;
      return Response(200, R"({"token":"T"})");
    }
    if (s.url.starts_with("https://uploads.example/")) return Response(201);  // presigned
    if (!s.Has("Authorization: Bearer T")) {
      return Response(401, "", {{"www-authenticate",
                                 R"(Bearer realm="https://auth.example/token",service="reg")"}});
    }
    if (s.method == "POST") {
      return Response(202, "", {{"location", "https://uploads.example/u1"}});
    }
    return Response(201);
  };
  RegistryOptions options{true, Credentials{"me", "pw"}};
  options.push = true;
  RegistryClient client(http, Ref("reg.example/a"), options);
  const int fd = ::memfd_create("blob", MFD_CLOEXEC);
  auto pushed = client.PushBlob(Sha256Of(""), fd, 0, "");
  ::close(fd);
  ASSERT_TRUE(pushed) << pushed.error().Message();
  EXPECT_NE(token_url.find("scope=repository%3Aa%3Apull%2Cpush"), std::string::npos) << token_url;
  EXPECT_EQ(http.seen.back().url, "https://uploads.example/u1?digest=sha256%3A" +
                                      Sha256Of("").encoded);
  EXPECT_FALSE(http.seen.back().Has("Authorization: Bearer T"))
      << "no token for an upload location on another host";
}

}  // namespace
}  // namespace strata::store
