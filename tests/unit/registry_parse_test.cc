// What the registry client parses, with no network: image references as docker and podman
// read them, WWW-Authenticate challenges, and credentials in auth.json files.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <iterator>

#include "layerstore/registry/auth.h"
#include "layerstore/registry/remote_ref.h"
#include "tests/support/temp_dir.h"

namespace strata::store {
namespace {

using testing::TempDir;

TEST(RemoteRefTest, NormalizesAsDockerDoes) {
  struct Case {
    const char* text;
    const char* registry;
    const char* repository;
    const char* tag;
    const char* name;
  };
  const std::string d64(64, 'd');
  for (const Case& c : std::vector<Case>{
           {"nginx", "docker.io", "library/nginx", "latest", "docker.io/library/nginx:latest"},
           {"nginx:1.11.9", "docker.io", "library/nginx", "1.11.9", "docker.io/library/nginx:1.11.9"},
           {"nginx:stable-alpine", "docker.io", "library/nginx", "stable-alpine",
            "docker.io/library/nginx:stable-alpine"},
           {"user/repo:tag", "docker.io", "user/repo", "tag", "docker.io/user/repo:tag"},
           {"docker.io/nginx", "docker.io", "library/nginx", "latest",
            "docker.io/library/nginx:latest"},
           {"index.docker.io/library/busybox", "docker.io", "library/busybox", "latest",
            "docker.io/library/busybox:latest"},
           {"quay.io/org/sub/app:v1.2", "quay.io", "org/sub/app", "v1.2",
            "quay.io/org/sub/app:v1.2"},
           {"localhost/app", "localhost", "app", "latest", "localhost/app:latest"},
           {"127.0.0.1:5000/test/img:1.0", "127.0.0.1:5000", "test/img", "1.0",
            "127.0.0.1:5000/test/img:1.0"},
           {"Registry/app", "Registry", "app", "latest", "Registry/app:latest"},
           {"a__b/c-d/e.f_g:T_1", "docker.io", "a__b/c-d/e.f_g", "T_1",
            "docker.io/a__b/c-d/e.f_g:T_1"}}) {
    SCOPED_TRACE(c.text);
    auto r = ParseRemoteRef(c.text);
    ASSERT_TRUE(r) << r.error().context;
    EXPECT_EQ(r->registry, c.registry);
    EXPECT_EQ(r->repository, c.repository);
    EXPECT_EQ(r->tag, c.tag);
    EXPECT_EQ(r->Name(), c.name);
  }
  auto pinned = ParseRemoteRef("repo@sha256:" + d64);
  ASSERT_TRUE(pinned);
  EXPECT_EQ(pinned->tag, "");
  EXPECT_EQ(pinned->Reference(), "sha256:" + d64);
  EXPECT_EQ(pinned->Name(), "docker.io/library/repo@sha256:" + d64);
  auto both = ParseRemoteRef("host:5000/a/b:v1@sha256:" + d64);
  ASSERT_TRUE(both);
  EXPECT_EQ(both->tag, "v1");
  EXPECT_EQ(both->Reference(), "sha256:" + d64) << "the digest wins";
  EXPECT_EQ(ParseRemoteRef("nginx")->ApiHost(), "registry-1.docker.io");
  EXPECT_EQ(ParseRemoteRef("quay.io/a/b")->ApiHost(), "quay.io");
  EXPECT_TRUE(ParseRemoteRef("localhost:5000/a")->Loopback());
  EXPECT_TRUE(ParseRemoteRef("127.0.0.1:5000/a")->Loopback());
  EXPECT_TRUE(ParseRemoteRef("[::1]:5000/a")->Loopback());
  EXPECT_FALSE(ParseRemoteRef("localhost.example.com/a")->Loopback());
  EXPECT_FALSE(ParseRemoteRef("nginx")->Loopback());
}

TEST(RemoteRefTest, RefusesWhatDockerRefuses) {
  for (const char* bad : {"", "UPPER", "user/Repo", "a//b", "-a", "a-", "a..b", "a/b:", "a:-t",
                          "a@sha256:abc", "a@md5:" "0123", "a b", "a/b/", "/a",
                          "host:5000/", "a:t:u"}) {
    SCOPED_TRACE(bad);
    auto r = ParseRemoteRef(bad);
    ASSERT_FALSE(r) << r->Name();
    EXPECT_EQ(r.error().code, EINVAL);
  }
  EXPECT_FALSE(ParseRemoteRef("a:" + std::string(129, 't')));
  EXPECT_FALSE(ParseRemoteRef(std::string(256, 'a')));
}

TEST(ChallengeTest, ParsesBearerAndBasic) {
  auto b = ParseChallenge(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull")");
  ASSERT_TRUE(b) << b.error().context;
  EXPECT_EQ(b->scheme, "bearer");
  EXPECT_EQ(b->params["realm"], "https://auth.docker.io/token");
  EXPECT_EQ(b->params["service"], "registry.docker.io");
  EXPECT_EQ(b->params["scope"], "repository:library/nginx:pull");
  auto basic = ParseChallenge(R"(Basic realm="strata-test")");
  ASSERT_TRUE(basic);
  EXPECT_EQ(basic->scheme, "basic");
  EXPECT_EQ(basic->params["realm"], "strata-test");
  auto spaced = ParseChallenge(R"(bearer  Realm="r\"q" , Service=s)");
  ASSERT_TRUE(spaced) << spaced.error().context;
  EXPECT_EQ(spaced->params["realm"], "r\"q");
  EXPECT_EQ(spaced->params["service"], "s");
  for (const char* bad : {"", "Negotiate abc", "Bearer service=x", R"(Bearer realm="open)",
                          "Bearer realm"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(ParseChallenge(bad));
  }
}

TEST(CredentialsTest, FindsPodmanAndDockerEntries) {
  const std::string podman = R"({"auths":{"127.0.0.1:5000":{"auth":"dGVzdGVyOnMzOmNyZXQ="}}})";
  auto c = CredentialsIn(podman, "127.0.0.1:5000");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->user, "tester");
  EXPECT_EQ(c->password, "s3:cret") << "only the first colon splits";
  EXPECT_FALSE(CredentialsIn(podman, "127.0.0.1:5001"));
  const std::string docker =
      R"({"auths":{"https://index.docker.io/v1/":{"auth":")" + Base64("me:pw") + R"("}}})";
  auto d = CredentialsIn(docker, "docker.io");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->user, "me");
  EXPECT_EQ(d->password, "pw");
  for (const char* broken : {"", "[]", R"({"auths":[]})", R"({"auths":{"h":{"auth":"!!"}}})",
                             R"({"auths":{"h":{"auth":"bm9jb2xvbg=="}}})"}) {
    SCOPED_TRACE(broken);
    EXPECT_FALSE(CredentialsIn(broken, "h"));
  }
  EXPECT_EQ(Base64("tester:s3cret"), "dGVzdGVyOnMzY3JldA==");
}

TEST(CredentialsTest, AuthFileUpdatesKeepEverythingElse) {
  TempDir dir;
  const std::string file = dir / "sub/auth.json";
  ASSERT_TRUE(UpdateAuthFile(file, "h:5000", Credentials{"u", "p"}));
  struct stat st;
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir / "sub").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  std::ofstream(file) << R"({"auths":{"h:5000":{"auth":"dTpw"},"k":{"auth":"eDp5"}},"x":1})";
  ASSERT_TRUE(UpdateAuthFile(file, "new", Credentials{"a", "b"}));
  auto read = [&] {
    std::ifstream in(file);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  EXPECT_TRUE(CredentialsIn(read(), "k"));
  EXPECT_EQ(CredentialsIn(read(), "new")->password, "b");
  EXPECT_NE(read().find("\"x\": 1"), std::string::npos) << read();
  ASSERT_TRUE(UpdateAuthFile(file, "k", std::nullopt));
  EXPECT_FALSE(CredentialsIn(read(), "k"));
  EXPECT_TRUE(CredentialsIn(read(), "h:5000"));
  std::ofstream(file) << "[not an auth file";
  EXPECT_EQ(UpdateAuthFile(file, "k", std::nullopt).error().code, EINVAL);
  EXPECT_EQ(read(), "[not an auth file") << "left alone";
}

}  // namespace
}  // namespace strata::store
