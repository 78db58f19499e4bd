// The registry client over real HTTP (libcurl) against a scripted server on the loopback that
// misbehaves: a blob cut off mid-way is resumed with a Range request (or fetched again when the
// server ignores it), an endless redirect, a 401 loop and an oversized manifest are clear
// errors, and nothing unverified is returned.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include "layerstore/registry/http.h"
#include "layerstore/registry/registry_client.h"
#include "tests/support/http_server.h"

namespace strata::store {
namespace {

using testing::ScriptedReply;
using testing::ScriptedServer;
using testing::SeenRequest;

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 131 + i / 7);
  return s;
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[65536];
  ssize_t n;
  off_t off = 0;
  while ((n = ::pread(fd, buf, sizeof buf, off)) > 0) {
    out.append(buf, static_cast<size_t>(n));
    off += n;
  }
  return out;
}

class TransportTest : public ::testing::Test {
 protected:
  RegistryClient Client(const ScriptedServer& server) {
    return RegistryClient(*http_, *ParseRemoteRef(server.host() + "/repo/img:1"),
                          RegistryOptions{true, Credentials{}});
  }
  std::unique_ptr<Http> http_ = MakeHttp();
};

TEST_F(TransportTest, ACutOffBlobIsResumedWithARange) {
  const std::string blob = Pattern(300000);
  const Digest digest = Sha256Of(blob);
  int cuts = 0;
  ScriptedServer server([&](const SeenRequest& r) {
    ScriptedReply reply;
    const auto range = r.headers.find("range");
    size_t from = 0;
    if (range != r.headers.end()) from = std::stoul(range->second.substr(6));  // "bytes=N-"
    reply.status = from ? 206 : 200;
    reply.body = blob.substr(from);
    if (cuts < 2) {  // twice cut off a third of the way through what is asked
      reply.send_only = reply.body.size() / 3;
      ++cuts;
    }
    return reply;
  });
  ASSERT_TRUE(server.ok());
  RegistryClient client = Client(server);
  const int fd = ::memfd_create("blob", MFD_CLOEXEC);
  Status got = client.Blob(digest, blob.size(), fd);
  ASSERT_TRUE(got) << got.error().Message();
  EXPECT_EQ(ReadAll(fd), blob);
  ::close(fd);
  const auto seen = server.Seen();
  ASSERT_EQ(seen.size(), 3u) << "three attempts (after https, which this server refuses)";
  EXPECT_EQ(seen[0].headers.count("range"), 0u);
  EXPECT_EQ(seen[1].headers.at("range"), "bytes=100000-");
  EXPECT_EQ(seen[2].headers.at("range"), "bytes=" + std::to_string(100000 + 200000 / 3) + "-");
}

TEST_F(TransportTest, AServerIgnoringRangeSendsTheBlobAgainFromTheStart) {
  const std::string blob = Pattern(200000);
  int calls = 0;
  ScriptedServer server([&](const SeenRequest&) {
    ScriptedReply reply;
    reply.body = blob;  // always 200 and the whole blob
    if (calls++ == 0) reply.send_only = 50000;  // the first attempt is cut off
    return reply;
  });
  ASSERT_TRUE(server.ok());
  RegistryClient client = Client(server);
  const int fd = ::memfd_create("blob", MFD_CLOEXEC);
  ASSERT_TRUE(client.Blob(Sha256Of(blob), blob.size(), fd));
  EXPECT_EQ(ReadAll(fd), blob) << "no bytes of the cut-off attempt kept twice";
  ::close(fd);
}

TEST_F(TransportTest, ABlobCutOffEveryTimeFailsAfterFourAttempts) {
  const std::string blob = Pattern(100000);
  ScriptedServer server([&](const SeenRequest& r) {
    ScriptedReply reply;
    reply.status = r.headers.count("range") ? 206 : 200;
    reply.body = std::string(blob.size(), 'x');
    reply.send_only = 10;
    return reply;
  });
  ASSERT_TRUE(server.ok());
  RegistryClient client = Client(server);
  const int fd = ::memfd_create("blob", MFD_CLOEXEC);
  Status got = client.Blob(Sha256Of(blob), blob.size(), fd);
  ::close(fd);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, ECONNRESET) << got.error().Message();
  EXPECT_EQ(server.Seen().size(), 4u) << "four attempts";
}

TEST_F(TransportTest, RedirectLoopsAuthLoopsAndHugeManifestsAreClearErrors) {
  std::string mode;
  std::string host;
  ScriptedServer server([&](const SeenRequest& r) {
    ScriptedReply reply;
    if (mode == "redirect") {
      reply.status = 302;
      reply.headers = {{"Location", "http://" + host + r.path}};
    } else if (mode == "auth") {
      reply.status = 401;
      reply.headers = {{"WWW-Authenticate", "Basic realm=\"r\""}};
    } else {
      reply.body = "{\"schemaVersion\":2," + std::string(5 << 20, ' ') + "}";
      reply.headers = {{"Content-Type", "application/vnd.oci.image.manifest.v1+json"}};
    }
    return reply;
  });
  ASSERT_TRUE(server.ok());
  host = server.host();
  mode = "redirect";
  RegistryClient redirected = Client(server);
  auto loop = redirected.Manifest("1");
  ASSERT_FALSE(loop);
  EXPECT_EQ(loop.error().code, ELOOP) << loop.error().Message();

  mode = "auth";
  RegistryClient challenged(*http_, *ParseRemoteRef(host + "/repo/img:1"),
                            RegistryOptions{true, Credentials{"me", "wrong"}});
  const size_t before = server.Seen().size();
  auto denied = challenged.Manifest("1");
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, EACCES) << denied.error().Message();
  EXPECT_LE(server.Seen().size() - before, 3u) << "authenticates once, no loop";

  mode = "huge";
  RegistryClient big = Client(server);
  auto huge = big.Manifest("1");
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code, EFBIG) << huge.error().Message();
}

}  // namespace
}  // namespace strata::store
