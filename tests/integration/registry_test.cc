// `strata pull` against a real registry nobody here wrote: Debian's docker-registry on
// 127.0.0.1 (tests/support/registry_fixture.h), filled by skopeo from an image umoci built.
// The pulled image is the imported one (same image ID, same tree as `umoci unpack`); a second
// pull downloads no blob; pulls by digest and from a registry that wants Basic credentials
// (from an auth.json, as podman keeps them, or written by strata login) work; an unknown tag
// and a lying digest are clear errors that leave the store as it was.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <memory>

#include "tests/support/file_data.h"
#include "tests/support/image_check.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/registry_fixture.h"
#include "tests/support/temp_dir.h"
#include "tests/support/token_server.h"

namespace strata::testing {
namespace {

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    for (const char* tool : {"/usr/bin/umoci", "/usr/bin/skopeo", kDockerRegistry}) {
      if (::access(tool, X_OK) != 0) GTEST_SKIP() << tool << " is not installed";
    }
    Sh(R"(umoci init --layout img
umoci new --image img:1.0
umoci unpack --image img:1.0 b >/dev/null
r=b/rootfs
mkdir -p $r/bin $r/etc $r/var/lib
cp /bin/busybox $r/bin/busybox
ln -s busybox $r/bin/sh
echo 'root:x:0:0:root:/root:/bin/sh' > $r/etc/passwd
head -c 300000 /dev/urandom > $r/var/lib/blob
chmod 4755 $r/bin/busybox
umoci repack --image img:1.0 b
rm -rf b
umoci unpack --image img:1.0 b >/dev/null
r=b/rootfs
rm $r/var/lib/blob
echo changed > $r/etc/passwd
mkdir $r/srv && echo data > $r/srv/data
umoci repack --image img:1.0 b
rm -rf b
umoci unpack --image img:1.0 ref >/dev/null)");
  }
  void TearDown() override { Unmount(dir_ / "mnt"); }
  void Sh(const std::string& script) {
    CommandResult r = RunCommand({"/bin/sh", "-ec", "cd " + dir_.path() + "\n" + script}, 120000);
    ASSERT_EQ(r.exit_code, 0) << script << "\n" << r.out << r.err;
  }
  CommandResult Strata(const std::string& store, std::vector<std::string> args) {
    args.insert(args.begin(), {STRATA_PATH, "--root", dir_ / store, "--quiet"});
    return RunCommand(args, 120000);
  }
  // skopeo copies the umoci image to REGISTRY as test/img:1.0.
  void Push(const LoopbackRegistry& registry, const std::string& creds = "") {
    std::vector<std::string> argv = {"/usr/bin/skopeo", "copy", "--dest-tls-verify=false"};
    if (!creds.empty()) argv.insert(argv.end(), {"--dest-creds", creds});
    argv.insert(argv.end(), {"oci:" + (dir_ / "img") + ":1.0",
                             "docker://" + registry.host() + "/test/img:1.0"});
    CommandResult r = RunCommand(argv, 120000);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  // A registry on the loopback (wanting Basic credentials when USER is given) that holds the
  // umoci image as test/img:1.0; null (the test failed) if it could not be made so.
  std::unique_ptr<LoopbackRegistry> StartRegistry(const std::string& user = "",
                                                  const std::string& password = "") {
    ::mkdir((dir_ / "reg").c_str(), 0755);
    auto registry = std::make_unique<LoopbackRegistry>(dir_ / "reg", user, password);
    if (!registry->ok()) {
      ADD_FAILURE() << registry->error();
      return nullptr;
    }
    Push(*registry, user.empty() ? "" : user + ":" + password);
    return HasFatalFailure() ? nullptr : std::move(registry);
  }
  // Mounts IMAGE of STORE and expects the tree umoci unpacked.
  void ExpectTree(const std::string& store, const std::string& image) {
    ExpectImageMountsAs(dir_ / store, image, dir_ / "mnt", dir_ / "ref/rootfs");
  }
  TempDir dir_;
};

TEST_F(RegistryTest, PulledImageIsTheImportedOneAndIsNotDownloadedTwice) {
  auto registry = StartRegistry();
  ASSERT_TRUE(registry);
  const std::string ref = registry->host() + "/test/img:1.0";

  CommandResult imported = Strata("imported", {"import", "oci:" + (dir_ / "img") + ":1.0"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  const int blobs_before = registry->Requests("GET", "/blobs/");
  CommandResult pulled = Strata("pulled", {"pull", ref});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err << registry->Log();
  EXPECT_EQ(pulled.out, imported.out) << "one image: the same image ID";
  EXPECT_EQ(registry->Requests("GET", "/blobs/") - blobs_before, 3) << "a config and two layers";
  ExpectTree("pulled", ref);

  // Again: the manifest is fetched, no blob.
  const int blobs_after = registry->Requests("GET", "/blobs/");
  CommandResult again = Strata("pulled", {"pull", ref});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, pulled.out);
  // The config is read again to learn the layers' diffIDs; no layer is.
  EXPECT_EQ(registry->Requests("GET", "/blobs/") - blobs_after, 1);

  // By digest: the manifest pulled is kept byte for byte, so its digest pulls it again.
  CommandResult raw = RunCommand({STRATA_PATH, "--root", dir_ / "pulled", "inspect", ref});
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  const size_t at = raw.out.find("\"manifest_digest\"");
  ASSERT_NE(at, std::string::npos) << raw.out;
  const size_t d = raw.out.find("sha256:", at);
  const std::string digest = raw.out.substr(d, 71);
  CommandResult by_digest = Strata("by-digest", {"pull", registry->host() + "/test/img@" + digest});
  ASSERT_EQ(by_digest.exit_code, 0) << by_digest.err;
  EXPECT_EQ(by_digest.out, pulled.out);
}

TEST_F(RegistryTest, UnknownImagesAndLyingDigestsAreClearErrors) {
  auto registry = StartRegistry();
  ASSERT_TRUE(registry);
  CommandResult missing = Strata("s", {"pull", registry->host() + "/test/img:2.0"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("not found"), std::string::npos) << missing.err;
  const std::string wrong = "sha256:" + std::string(64, 'a');
  CommandResult lying = Strata("s", {"pull", registry->host() + "/test/img@" + wrong});
  EXPECT_NE(lying.exit_code, 0);
  CommandResult bad = Strata("s", {"pull", "Upper/Case:tag"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("invalid repository"), std::string::npos) << bad.err;
  CommandResult images = Strata("s", {"images", "-q"});
  EXPECT_EQ(images.out, "") << "nothing was stored";
}

TEST_F(RegistryTest, BasicAuthCredentialsComeFromAnAuthFile) {
  auto registry = StartRegistry("tester", "s3cret");
  ASSERT_TRUE(registry);
  const std::string ref = registry->host() + "/test/img:1.0";
  CommandResult denied = Strata("s", {"pull", ref});
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_NE(denied.err.find("authentication required"), std::string::npos) << denied.err;
  // As podman writes it: {"auths": {"HOST": {"auth": base64("user:password")}}}.
  std::ofstream(dir_ / "auth.json") << R"({"auths":{")" << registry->host()
                                    << R"(":{"auth":"dGVzdGVyOnMzY3JldA=="}}})";
  CommandResult ok = RunCommand({"/usr/bin/env", "REGISTRY_AUTH_FILE=" + (dir_ / "auth.json"),
                                 STRATA_PATH, "--root", dir_ / "s", "--quiet", "pull", ref},
                                120000);
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.err.find("s3cret"), std::string::npos) << "credentials are never printed";
  ExpectTree("s", ref);
}

// Seven layers fetched over parallel connections make the image import makes; a blob the
// registry serves corrupted (one byte flipped in its storage) fails the pull with nothing
// stored, and once it is whole again the pull completes.
TEST_F(RegistryTest, ManyLayersInParallelAndACorruptBlob) {
  Sh(R"(for i in 1 2 3 4 5; do
umoci unpack --image img:1.0 b >/dev/null
head -c $((i * 50000)) /dev/urandom > b/rootfs/layer$i
umoci repack --image img:1.0 b
rm -rf b
done
rm -rf ref && umoci unpack --image img:1.0 ref >/dev/null)");
  auto registry = StartRegistry();
  ASSERT_TRUE(registry);
  const std::string ref = registry->host() + "/test/img:1.0";
  CommandResult imported = Strata("imported", {"import", "oci:" + (dir_ / "img") + ":1.0"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;

  // The biggest blob in the registry's storage is the 300 kB layer: flip its middle byte.
  CommandResult biggest = RunCommand(
      {"/bin/sh", "-c",
       "find " + (dir_ / "reg/data") + " -name data -path '*/blobs/*' -printf '%s %p\n' | "
       "sort -n | tail -1 | cut -d' ' -f2"});
  const std::string blob = biggest.out.substr(0, biggest.out.find('\n'));
  ASSERT_FALSE(blob.empty());
  auto flip = [&] {
    std::fstream f(blob, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(0, std::ios::end);
    const std::streamoff middle = f.tellg() / 2;
    f.seekg(middle);
    char c = 0;
    f.get(c);
    f.seekp(middle);
    f.put(static_cast<char>(c ^ 0x55));
  };
  flip();
  CommandResult corrupt = Strata("pulled", {"pull", ref});
  EXPECT_NE(corrupt.exit_code, 0);
  EXPECT_NE(corrupt.err.find("does not match"), std::string::npos) << corrupt.err;
  EXPECT_EQ(Strata("pulled", {"images", "-q"}).out, "") << "no image from unverified data";
  flip();
  CommandResult pulled = Strata("pulled", {"pull", ref});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  EXPECT_EQ(pulled.out, imported.out);
  ExpectTree("pulled", ref);
  CommandResult tmp = RunCommand({"/bin/sh", "-c", "ls -A " + (dir_ / "pulled/tmp") + " | wc -l"});
  EXPECT_EQ(tmp.out, "0\n") << "nothing left in the store's tmp/";
}

// strata login checks the credentials with the registry and keeps them where podman looks
// ($REGISTRY_AUTH_FILE here, so the machine's own auth file is left alone); pull then finds
// them; logout forgets them, and other entries of the file survive both.
TEST_F(RegistryTest, LoginKeepsCredentialsForPullAndLogoutForgetsThem) {
  auto registry = StartRegistry("tester", "s3cret");
  ASSERT_TRUE(registry);
  const std::string auth = dir_ / "auth.json";
  std::ofstream(auth) << R"({"auths":{"other.example":{"auth":"eDp5"}},"credHelpers":{}})";
  auto with_auth = [&](std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {"/usr/bin/env", "REGISTRY_AUTH_FILE=" + auth, STRATA_PATH,
                               "--root", dir_ / "s", "--quiet"});
    if (input.empty()) return RunCommand(args, 120000);
    const std::string line = "printf '%s\n' '" + input + "' | ";
    std::string cmd;
    for (const std::string& a : args) cmd += "'" + a + "' ";
    return RunCommand({"/bin/sh", "-c", line + cmd}, 120000);
  };
  CommandResult wrong = with_auth({"login", registry->host(), "-u", "tester", "--password-stdin"},
                                  "nope");
  EXPECT_NE(wrong.exit_code, 0);
  EXPECT_NE(wrong.err.find("refused"), std::string::npos) << wrong.err;
  CommandResult login = with_auth({"login", registry->host(), "-u", "tester", "--password-stdin"},
                                  "s3cret");
  ASSERT_EQ(login.exit_code, 0) << login.err;
  const std::string kept = ReadPath(auth);
  EXPECT_NE(kept.find("other.example"), std::string::npos) << kept;
  EXPECT_NE(kept.find("credHelpers"), std::string::npos) << kept;
  EXPECT_NE(kept.find("dGVzdGVyOnMzY3JldA=="), std::string::npos) << kept;
  struct stat st;
  ASSERT_EQ(::stat(auth.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  CommandResult pulled = with_auth({"pull", registry->host() + "/test/img:1.0"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  CommandResult logout = with_auth({"logout", registry->host()});
  ASSERT_EQ(logout.exit_code, 0) << logout.err;
  CommandResult again = with_auth({"logout", registry->host()});
  EXPECT_NE(again.exit_code, 0) << "nothing left to forget";
  CommandResult denied = with_auth({"pull", registry->host() + "/test/img:1.0"});
  EXPECT_NE(denied.exit_code, 0);
  const std::string left = ReadPath(auth);
  EXPECT_NE(left.find("other.example"), std::string::npos) << left;
  EXPECT_EQ(left.find("dGVzdGVyOnMzY3JldA=="), std::string::npos) << left;
}

// A pulled image pushed to another repository of the registry is mounted there, blob by blob
// (no layer sent again), under the digest it was pulled with; a committed image pushes only
// its new layer and config, and skopeo and a fresh strata pull it back the same; pushing
// again sends no blob.
TEST_F(RegistryTest, PushSendsOnlyWhatTheRegistryLacks) {
  auto registry = StartRegistry();
  ASSERT_TRUE(registry);
  const std::string host = registry->host();
  CommandResult pulled = Strata("s", {"pull", host + "/test/img:1.0"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  const std::string manifest =
      RunCommand({"/usr/bin/skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}",
                  "docker://" + host + "/test/img:1.0"})
          .out;

  const int uploads = registry->Requests("PUT", "/blobs/uploads/");
  CommandResult copy = Strata("s", {"push", host + "/test/img:1.0", host + "/team/copy:1"});
  ASSERT_EQ(copy.exit_code, 0) << copy.err << registry->Log();
  EXPECT_EQ(copy.out, manifest) << "the digest it was pulled with";
  EXPECT_EQ(registry->Requests("PUT", "/blobs/uploads/"), uploads) << "every blob mounted";
  EXPECT_EQ(registry->Requests("POST", "mount="), 3) << "two layers and the config, from test/img";

  // A container's change, committed and pushed: one layer and a config travel.
  ::mkdir((dir_ / "mnt").c_str(), 0755);
  ASSERT_EQ(Strata("s", {"mount", host + "/test/img:1.0", dir_ / "mnt", "--name", "c"}).exit_code,
            0);
  Sh("echo pushed > mnt/etc/motd && rm mnt/srv/data\n"
     "cp -a mnt/etc/motd ref/rootfs/etc/motd && rm ref/rootfs/srv/data");
  ASSERT_EQ(Strata("s", {"umount", dir_ / "mnt"}).exit_code, 0);
  ASSERT_TRUE(WaitForMount(dir_ / "mnt", false, 10000));
  CommandResult committed = Strata("s", {"commit", "c", host + "/team/app:2"});
  ASSERT_EQ(committed.exit_code, 0) << committed.err;
  const int before = registry->Requests("PUT", "/blobs/uploads/");
  CommandResult app = Strata("s", {"push", host + "/team/app:2"});
  ASSERT_EQ(app.exit_code, 0) << app.err << registry->Log();
  EXPECT_EQ(registry->Requests("PUT", "/blobs/uploads/") - before, 2) << "the new layer, the config";
  CommandResult digest =
      RunCommand({"/usr/bin/skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}",
                  "docker://" + host + "/team/app:2"});
  ASSERT_EQ(digest.exit_code, 0) << digest.err;
  EXPECT_EQ(digest.out, app.out);

  const int again_before = registry->Requests("PUT", "/blobs/uploads/");
  ASSERT_EQ(Strata("s", {"push", host + "/team/app:2"}).exit_code, 0);
  EXPECT_EQ(registry->Requests("PUT", "/blobs/uploads/"), again_before) << "nothing sent twice";
  // Pushed elsewhere in the registry: every blob is mounted from where it went before.
  const int mounts = registry->Requests("POST", "mount=");
  ASSERT_EQ(Strata("s", {"push", host + "/team/app:2", host + "/mirror/app:2"}).exit_code, 0);
  EXPECT_EQ(registry->Requests("PUT", "/blobs/uploads/"), again_before) << "no upload";
  EXPECT_EQ(registry->Requests("POST", "mount=") - mounts, 4) << "3 layers and the config";

  // A fresh store pulls what was pushed: the same image, the tree the container showed.
  CommandResult back = Strata("fresh", {"pull", host + "/team/app:2"});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(back.out, committed.out) << "the committed image's ID";
  ExpectTree("fresh", host + "/team/app:2");
}

TEST_F(RegistryTest, PushNeedsCredentialsAndADestination) {
  auto registry = StartRegistry("tester", "s3cret");
  ASSERT_TRUE(registry);
  ASSERT_EQ(Strata("s", {"import", "oci:" + (dir_ / "img") + ":1.0"}).exit_code, 0);
  const std::string id = Strata("s", {"images", "-q"}).out;
  CommandResult nameless = Strata("s", {"push", id.substr(0, id.find('\n'))});
  EXPECT_NE(nameless.exit_code, 0);
  EXPECT_NE(nameless.err.find("give a destination"), std::string::npos) << nameless.err;
  const std::string dest = registry->host() + "/team/img:1";
  CommandResult denied = Strata("s", {"push", "img:1.0", dest});
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_NE(denied.err.find("authentication required"), std::string::npos) << denied.err;
  std::ofstream(dir_ / "auth.json") << R"({"auths":{")" << registry->host()
                                    << R"(":{"auth":"dGVzdGVyOnMzY3JldA=="}}})";
  CommandResult ok = RunCommand({"/usr/bin/env", "REGISTRY_AUTH_FILE=" + (dir_ / "auth.json"),
                                 STRATA_PATH, "--root", dir_ / "s", "--quiet", "push", "img:1.0",
                                 dest},
                                120000);
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  CommandResult inspect =
      RunCommand({"/usr/bin/skopeo", "inspect", "--tls-verify=false", "--creds", "tester:s3cret",
                  "--format", "{{.Digest}}", "docker://" + dest});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_EQ(inspect.out, ok.out);
}

// A pull killed (SIGKILL) at any point leaves nothing half-published; the next pull completes
// it and the store verifies clean.
TEST_F(RegistryTest, PullKilledAtAnyPointIsFinishedByTheNext) {
  Sh(R"(umoci unpack --image img:1.0 b >/dev/null
head -c 48000000 /dev/urandom > b/rootfs/big
umoci repack --image img:1.0 b
rm -rf b ref
umoci unpack --image img:1.0 ref >/dev/null)");
  auto registry = StartRegistry();
  ASSERT_TRUE(registry);
  const std::string ref = registry->host() + "/test/img:1.0";
  for (int delay_ms : {5, 40, 150, 400, 900}) {
    SCOPED_TRACE("killed after " + std::to_string(delay_ms) + " ms");
    RunStrataKilledAfter({"--root", dir_ / "s", "--quiet", "pull", ref}, delay_ms);
    EXPECT_EQ(LayersWithoutRecord(dir_ / "s"), "") << "layers without a record";
  }
  CommandResult pulled = Strata("s", {"pull", ref});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  CommandResult verify = Strata("s", {"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  ExpectTree("s", ref);
}

// A registry behind a token service (distribution's token auth, as Docker Hub and most
// registries run it): pull and push with credentials from the auth file go through the bearer
// flow with the scope each needs; without credentials the service refuses, clearly.
TEST_F(RegistryTest, PullAndPushThroughATokenService) {
  ::mkdir((dir_ / "reg").c_str(), 0755);
  TokenServer tokens(dir_ / "reg", "tester", "s3cret");
  ASSERT_TRUE(tokens.ok()) << tokens.error();
  LoopbackRegistry registry(dir_ / "reg", TokenAuth{tokens.realm(), TokenServer::kService,
                                                    TokenServer::kIssuer, tokens.cert_path()});
  ASSERT_TRUE(registry.ok()) << registry.error();
  Push(registry, "tester:s3cret");  // skopeo through the same service
  const std::string ref = registry.host() + "/test/img:1.0";

  CommandResult anonymous = Strata("s", {"pull", ref});
  EXPECT_NE(anonymous.exit_code, 0);
  EXPECT_NE(anonymous.err.find("token service answered HTTP 401"), std::string::npos)
      << anonymous.err;

  std::ofstream(dir_ / "auth.json") << R"({"auths":{")" << registry.host()
                                    << R"(":{"auth":"dGVzdGVyOnMzY3JldA=="}}})";
  auto with_auth = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"/usr/bin/env", "REGISTRY_AUTH_FILE=" + (dir_ / "auth.json"),
                               STRATA_PATH, "--root", dir_ / "s", "--quiet"});
    return RunCommand(args, 120000);
  };
  CommandResult pulled = with_auth({"pull", ref});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err << registry.Log();
  ExpectTree("s", ref);
  CommandResult pushed = with_auth({"push", ref, registry.host() + "/team/copy:1"});
  ASSERT_EQ(pushed.exit_code, 0) << pushed.err << registry.Log();
  const auto scopes = tokens.Scopes();
  EXPECT_NE(std::find(scopes.begin(), scopes.end(), "repository:test/img:pull"), scopes.end());
  bool push_scope = false;
  // "repository:team/copy:ACTIONS", the actions in the registry's order (push,pull or
  // pull,push: it gathers them in a Go map).
  for (const std::string& s : scopes) {
    const size_t at = s.find("repository:team/copy:");
    if (at == std::string::npos) continue;
    const std::string actions = s.substr(at + 21, s.find(' ', at) - at - 21);
    push_scope |= actions.find("push") != std::string::npos;
  }
  std::string asked;
  for (const std::string& s : scopes) asked += "\n  " + s;
  EXPECT_TRUE(push_scope) << "a token to push to team/copy; asked:" << asked << "\n"
                          << registry.Log();
  CommandResult inspect =
      RunCommand({"/usr/bin/skopeo", "inspect", "--tls-verify=false", "--creds", "tester:s3cret",
                  "--format", "{{.Digest}}", "docker://" + registry.host() + "/team/copy:1"});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  EXPECT_EQ(inspect.out, pushed.out);
}

// A multi-platform image (an index of an amd64 and an arm64/v8 manifest, pushed with skopeo
// --all): pull picks this host's platform, --platform another, --all-platforms both.
TEST_F(RegistryTest, MultiPlatformIndexesPullThePlatformAsked) {
  Sh(R"SH(b=img/blobs/sha256
m=$(sed -n 's/.*"digest":"sha256:\([0-9a-f]*\)".*/\1/p' img/index.json)
c=$(sed 's/.*"config":{[^}]*"digest":"sha256:\([0-9a-f]*\)".*/\1/' $b/$m)
sed 's/"architecture":"amd64"/"architecture":"arm64","variant":"v8"/' $b/$c > c2
c2=$(sha256sum c2 | cut -c1-64) && mv c2 $b/$c2
sed "s/\"digest\":\"sha256:$c\",\"size\":$(stat -c %s $b/$c)/\"digest\":\"sha256:$c2\",\"size\":$(stat -c %s $b/$c2)/" $b/$m > m2
m2=$(sha256sum m2 | cut -c1-64) && mv m2 $b/$m2
t=application/vnd.oci.image.manifest.v1+json
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"%s","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"}},{"mediaType":"%s","digest":"sha256:%s","size":%s,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}}]}' $t $m $(stat -c %s $b/$m) $t $m2 $(stat -c %s $b/$m2) > idx
i=$(sha256sum idx | cut -c1-64) && mv idx $b/$i
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"multi"}}]}' $i $(stat -c %s $b/$i) > img/index.json
echo sha256:$c > amd64-id && echo sha256:$c2 > arm64-id)SH");
  ::mkdir((dir_ / "reg").c_str(), 0755);
  LoopbackRegistry registry(dir_ / "reg");
  ASSERT_TRUE(registry.ok()) << registry.error();
  CommandResult copied = RunCommand({"/usr/bin/skopeo", "copy", "--all", "--dest-tls-verify=false",
                                     "oci:" + (dir_ / "img") + ":multi",
                                     "docker://" + registry.host() + "/test/multi:1"},
                                    120000);
  ASSERT_EQ(copied.exit_code, 0) << copied.err;
  const std::string amd64 = ReadPath(dir_ / "amd64-id"), arm64 = ReadPath(dir_ / "arm64-id");
  const std::string ref = registry.host() + "/test/multi:1";
  CommandResult here = Strata("here", {"pull", "--platform", "linux/amd64", ref});
  ASSERT_EQ(here.exit_code, 0) << here.err;
  EXPECT_EQ(here.out, amd64);
  CommandResult arm = Strata("arm", {"pull", "--platform", "linux/arm64/v8", ref});
  ASSERT_EQ(arm.exit_code, 0) << arm.err;
  EXPECT_EQ(arm.out, arm64);
  CommandResult all = Strata("all", {"pull", "--all-platforms", ref});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_NE(all.out.find(amd64), std::string::npos) << all.out;
  EXPECT_NE(all.out.find(arm64), std::string::npos) << all.out;
  CommandResult none = Strata("none", {"pull", "--platform", "linux/s390x", ref});
  EXPECT_NE(none.exit_code, 0);
  ExpectTree("here", ref);
}

}  // namespace
}  // namespace strata::testing
