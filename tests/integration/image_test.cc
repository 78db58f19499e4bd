// strata against images made by a tool nobody here wrote: umoci builds a multi-layer OCI image
// (files, dirs, symlinks, hard links, a FIFO, a device, deletions that become whiteouts), strata
// imports it, stratafs mounts it, and the mounted tree must equal `umoci unpack` of the same
// image entry for entry.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "tests/support/image_check.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tree_dump.h"

namespace strata::testing {
namespace {

constexpr const char* kUmoci = "/usr/bin/umoci";

class ImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    if (::access(kUmoci, X_OK) != 0)
      GTEST_SKIP() << "umoci is not installed (scripts/install-deps)";
  }
  void TearDown() override { Unmount(dir_ / "mnt"); }  // also when a test failed mid-way
  // Runs a shell snippet; fails the test with its output if it fails.
  void Sh(const std::string& script) {
    CommandResult r = RunCommand({"/bin/sh", "-ec", "cd " + dir_.path() + "\n" + script}, 120000);
    ASSERT_EQ(r.exit_code, 0) << script << "\n" << r.out << r.err;
  }
  CommandResult Strata(std::vector<std::string> args) {
    args.insert(args.begin(), {STRATA_PATH, "--root", dir_ / "store"});
    return RunCommand(args, 120000);
  }
  // Mounts IMAGE from the store at ROOT with stratafs and expects the tree `umoci unpack` made
  // in ref/rootfs.
  void ExpectMountEqualsUmociUnpack(const std::string& root, const std::string& image) {
    ExpectImageMountsAs(root, image, dir_ / "mnt", dir_ / "ref/rootfs");
  }
  // Imports SOURCE into a fresh store ROOT_NAME and compares its mount with ref/rootfs.
  void ExpectFormat(const std::string& source, const std::string& root_name) {
    SCOPED_TRACE(source);
    const std::string root = dir_ / root_name;
    CommandResult r =
        RunCommand({STRATA_PATH, "--root", root, "--quiet", "import", source}, 120000);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ExpectMountEqualsUmociUnpack(root, r.out.substr(7, 12));
  }
  // umoci image "img:latest" in three layers.
  void BuildImage() {
    Sh(R"(umoci init --layout img
umoci new --image img:latest
umoci unpack --image img:latest b >/dev/null
r=b/rootfs
mkdir -p $r/bin $r/etc/conf.d $r/var/cache/apt $r/opt/app/lib $r/dev
cp /bin/busybox $r/bin/busybox
ln -s busybox $r/bin/sh
echo 'root:x:0:0:root:/root:/bin/sh' > $r/etc/passwd
echo one > $r/etc/conf.d/one
echo two > $r/etc/conf.d/two
head -c 100000 /dev/urandom > $r/var/cache/apt/pkgcache.bin
echo lib > $r/opt/app/lib/libx.so
ln $r/opt/app/lib/libx.so $r/opt/app/lib/libx.so.1
mkfifo $r/etc/fifo
mknod $r/dev/null c 1 3
chmod 4755 $r/bin/busybox
chown 1000:1000 $r/etc/conf.d/two
umoci repack --image img:latest b
rm -rf b
umoci unpack --image img:latest b >/dev/null
r=b/rootfs
rm -rf $r/var/cache/apt
rm $r/etc/conf.d/one
echo changed > $r/etc/passwd
mkdir $r/srv && echo data > $r/srv/data
umoci repack --image img:latest b
rm -rf b
umoci unpack --image img:latest b >/dev/null
r=b/rootfs
rm -rf $r/opt/app
mkdir -p $r/opt/app && echo fresh > $r/opt/app/README
chmod 600 $r/etc/passwd
umoci repack --image img:latest b
rm -rf b
umoci unpack --image img:latest ref >/dev/null
)");
  }

  TempDir dir_;
};

TEST_F(ImageTest, MountedImageEqualsUmociUnpack) {
  BuildImage();
  CommandResult imported = Strata({"import", dir_ / "img"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_NE(imported.out.find("localhost/img:latest"), std::string::npos) << imported.out;
  EXPECT_NE(imported.out.find("3 layers extracted"), std::string::npos) << imported.out;

  ExpectMountEqualsUmociUnpack(dir_ / "store", "img");
  const Tree reference = DumpTree(dir_ / "ref/rootfs");
  // The reference itself shows the deletions the comparison covered.
  EXPECT_EQ(reference.count("/opt/app/lib"), 0u);
  EXPECT_EQ(reference.count("/var/cache/apt"), 0u);
  EXPECT_EQ(reference.count("/etc/conf.d/one"), 0u);
}

// skopeo converts the umoci image into other formats (docker-archive, oci-archive, zstd OCI,
// the dir: transport); each imports to the same image ID and mounts to the umoci tree.
TEST_F(ImageTest, EveryFormatSkopeoWritesImportsToTheSameTree) {
  if (::access("/usr/bin/skopeo", X_OK) != 0) GTEST_SKIP() << "skopeo is not installed";
  BuildImage();
  Sh(R"(skopeo --insecure-policy copy -q oci:img:latest docker-archive:docker.tar:app:v1
skopeo --insecure-policy copy -q oci:img:latest oci-archive:oci.tar:v1
skopeo --insecure-policy copy -q --dest-compress-format zstd oci:img:latest oci:zstd:v1
skopeo --insecure-policy copy -q oci:img:latest dir:dirimage)");
  std::string first_id;
  int store = 0;
  for (const std::string& source : {"docker-archive:" + (dir_ / "docker.tar"), dir_ / "oci.tar",
                                    "oci:" + (dir_ / "zstd") + ":v1", dir_ / "dirimage"}) {
    SCOPED_TRACE(source);
    const std::string root = dir_ / ("store" + std::to_string(store++));
    CommandResult r =
        RunCommand({STRATA_PATH, "--root", root, "--quiet", "import", source}, 120000);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string id = r.out.substr(0, r.out.find('\n'));
    if (first_id.empty()) first_id = id;
    EXPECT_EQ(id, first_id) << "the image ID is the config digest, whatever the format";
    ExpectMountEqualsUmociUnpack(root, id.substr(7, 12));
  }
  CommandResult zstd = RunCommand({STRATA_PATH, "--root", dir_ / "store2", "inspect", first_id});
  EXPECT_NE(zstd.out.find("\"compression\": \"zstd\""), std::string::npos) << zstd.out;
}

// buildah (containers/storage's layer differ) writes the image: whiteouts of a file and of a
// directory, a directory emptied and refilled, hard links, a symlink, an xattr, a FIFO, a device
// node, a setuid bit set in an upper layer. Pushed as an OCI layout and as a docker-archive,
// both must mount to what `umoci unpack` makes of the OCI layout.
TEST_F(ImageTest, BuildahImagesInBothFormats) {
  if (::access("/usr/bin/buildah", X_OK) != 0) GTEST_SKIP() << "buildah is not installed";
  Sh(R"(B="buildah --root $PWD/broot --runroot $PWD/brun --storage-driver vfs"
trap '$B rm -a >/dev/null 2>&1 || true' EXIT
c=$($B from -q scratch)
m=$($B mount $c)
mkdir -p $m/bin $m/etc/app $m/var/lib/old $m/srv/data $m/dev
cp /bin/busybox $m/bin/busybox && ln -s busybox $m/bin/sh
echo conf > $m/etc/app/conf && echo gone > $m/etc/app/gone
echo keep > $m/var/lib/old/a && echo keep > $m/var/lib/old/b
echo v1 > $m/srv/data/old
echo linked > $m/etc/app/l1 && ln $m/etc/app/l1 $m/etc/app/l2
setfattr -n user.note -v hello $m/etc/app/conf
mkfifo $m/etc/app/fifo && mknod $m/dev/null c 1 3
$B umount $c >/dev/null && $B commit -q $c base >/dev/null && $B rm $c >/dev/null
c=$($B from -q base)
m=$($B mount $c)
rm $m/etc/app/gone && rm -rf $m/var/lib/old
rm -rf $m/srv/data && mkdir $m/srv/data && echo v2 > $m/srv/data/new
chmod 4755 $m/bin/busybox
$B umount $c >/dev/null && $B commit -q $c final >/dev/null
$B push -q final oci:$PWD/boci:latest
$B push -q final docker-archive:$PWD/bdocker.tar:final:latest
rm -rf ref && umoci unpack --image boci:latest ref >/dev/null)");
  ExpectFormat(dir_ / "boci", "store-oci");
  ExpectFormat(dir_ / "bdocker.tar", "store-docker");
}

// One image received twice with different manifests (an OCI layout, then skopeo's
// docker-archive of it, whose manifest strata synthesises): both manifests are kept, byte for
// byte, through a prune; each is inspect --raw'able by its repo digest; save picks one that
// names the kept blobs.
TEST_F(ImageTest, EveryManifestAnImageWasReceivedWithIsKept) {
  if (::access("/usr/bin/skopeo", X_OK) != 0) GTEST_SKIP() << "skopeo is not installed";
  BuildImage();
  Sh("skopeo --insecure-policy copy -q oci:img:latest docker-archive:docker.tar:app:v1");
  ASSERT_EQ(Strata({"import", "oci:" + (dir_ / "img") + ":latest", "--name", "app:v1"}).exit_code,
            0);
  CommandResult first = Strata({"inspect", "--raw", "app:v1"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  ASSERT_EQ(Strata({"import", dir_ / "docker.tar"}).exit_code, 0);
  ASSERT_EQ(Strata({"prune"}).exit_code, 0);
  CommandResult inspect = Strata({"inspect", "app:v1"});
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  std::vector<std::string> repo_digests;
  // localhost/app@... (the layout, named here) and docker.io/library/app@... (skopeo's
  // RepoTags) in the order received.
  for (size_t at = inspect.out.find("/app@"); at != std::string::npos;
       at = inspect.out.find("/app@", at + 1)) {
    const size_t start = inspect.out.rfind('"', at) + 1;
    repo_digests.push_back(inspect.out.substr(start, inspect.out.find('"', at) - start));
  }
  ASSERT_EQ(repo_digests.size(), 2u) << inspect.out;
  std::vector<std::string> raws;
  for (const std::string& rd : repo_digests) {
    CommandResult raw = Strata({"inspect", "--raw", rd});
    ASSERT_EQ(raw.exit_code, 0) << rd << ": " << raw.err;
    std::ofstream(dir_ / "m.json", std::ios::binary) << raw.out;
    CommandResult digest = Strata({"digest", dir_ / "m.json"});
    EXPECT_EQ(digest.out.substr(0, 71), rd.substr(rd.find('@') + 1)) << "byte for byte";
    raws.push_back(raw.out);
  }
  EXPECT_EQ(raws[0], first.out) << "the OCI layout's manifest, as imported";
  EXPECT_NE(raws[0], raws[1]);
  EXPECT_EQ(Strata({"verify"}).exit_code, 0);
  ASSERT_EQ(Strata({"save", repo_digests[0], "-o", dir_ / "first.tar"}).exit_code, 0);
  CommandResult saved = RunCommand({"/usr/bin/skopeo", "inspect", "--format", "{{.Digest}}",
                                    "oci-archive:" + (dir_ / "first.tar")});
  EXPECT_EQ(saved.out.substr(0, 71), repo_digests[0].substr(repo_digests[0].find('@') + 1));
}

TEST_F(ImageTest, ReimportIsANoOpAndTheMountCommandWorks) {
  BuildImage();
  ASSERT_EQ(Strata({"import", "oci:" + (dir_ / "img") + ":latest", "--name", "demo:v1"}).exit_code,
            0);
  CommandResult again = Strata({"import", dir_ / "img", "--name", "demo:v2"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("0 layers extracted, 3 reused"), std::string::npos) << again.out;
  CommandResult list = Strata({"images", "--format", "json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("localhost/demo:v1"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("localhost/demo:v2"), std::string::npos) << "two tags, one image";

  ::mkdir((dir_ / "mnt").c_str(), 0755);
  CommandResult mounted = Strata({"mount", "--read-only", "demo:v2", dir_ / "mnt"});
  ASSERT_EQ(mounted.exit_code, 0) << mounted.err;
  ASSERT_TRUE(IsMountPoint(dir_ / "mnt"));
  std::ifstream readme(dir_ / "mnt/opt/app/README");
  std::string line;
  std::getline(readme, line);
  readme.close();
  EXPECT_EQ(line, "fresh");
  EXPECT_EQ(Strata({"umount", dir_ / "mnt"}).exit_code, 0);
  EXPECT_TRUE(WaitForMount(dir_ / "mnt", false, 10000));

  // tag, history, df, verify
  ASSERT_EQ(Strata({"tag", "demo:v1", "registry.example/team/demo:prod"}).exit_code, 0);
  CommandResult history = Strata({"history", "--format", "json", "team/demo:prod"});
  EXPECT_EQ(history.exit_code, 0) << history.err;
  size_t layer_entries = 0;
  for (size_t pos = 0; (pos = history.out.find("\"empty_layer\": false", pos)) != std::string::npos;
       ++pos) {
    ++layer_entries;
  }
  EXPECT_EQ(layer_entries, 3u) << history.out;
  CommandResult df = Strata({"df", "--format", "json"});
  EXPECT_EQ(df.exit_code, 0) << df.err;
  EXPECT_NE(df.out.find("\"layers\": 3"), std::string::npos) << df.out;
  // The kept blobs: the three layer blobs of the layout, byte for byte.
  CommandResult blobs = RunCommand(
      {"/bin/sh", "-c", "cat " + (dir_ / "store/layers") + "/*/blob | wc -c"});
  EXPECT_NE(df.out.find("\"blobs_size\": " + blobs.out.substr(0, blobs.out.find('\n'))),
            std::string::npos)
      << df.out;
  CommandResult verified = Strata({"verify"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  Sh("f=$(ls store/blobs/sha256 | head -1); cp store/blobs/sha256/$f saved; echo x >> "
     "store/blobs/sha256/$f");
  CommandResult corrupt = Strata({"verify"});
  EXPECT_EQ(corrupt.exit_code, 1) << corrupt.out;
  EXPECT_NE(corrupt.err.find("does not match its digest"), std::string::npos) << corrupt.err;
  Sh("f=$(ls store/blobs/sha256 | head -1); cp saved store/blobs/sha256/$f");
  // A file changed inside an extracted layer is found too.
  Sh("f=$(find store/layers -path '*/diff/*' -type f | head -1); cp -p \"$f\" saved-file; "
     "echo tampered >> \"$f\"");
  CommandResult tampered = Strata({"verify"});
  EXPECT_EQ(tampered.exit_code, 1) << tampered.out;
  EXPECT_NE(tampered.err.find("files changed since import"), std::string::npos) << tampered.err;
  Sh("f=$(find store/layers -path '*/diff/*' -type f | head -1); cp -p saved-file \"$f\"");
  CommandResult restored = Strata({"verify"});
  EXPECT_EQ(restored.exit_code, 0) << restored.err;
  ASSERT_EQ(Strata({"rm", "registry.example/team/demo:prod"}).exit_code, 0);

  CommandResult untag = Strata({"rm", "demo:v1"});
  EXPECT_EQ(untag.exit_code, 0) << untag.err;
  EXPECT_NE(untag.out.find("Untagged"), std::string::npos) << untag.out;
  CommandResult rm = Strata({"rm", "demo:v2"});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  CommandResult empty = Strata({"images", "-q"});
  EXPECT_EQ(empty.out, "");
  struct stat st;
  EXPECT_NE(::stat((dir_ / "store/layers").c_str(), &st), -1);
  CommandResult layers =
      RunCommand({"/bin/sh", "-c", "ls " + (dir_ / "store/layers") + " | wc -l"});
  EXPECT_EQ(layers.out, "0\n") << "unused layers are collected";
}

TEST_F(ImageTest, WritableMountsKeepChangesInTheirContainer) {
  BuildImage();
  ASSERT_EQ(Strata({"import", dir_ / "img", "--name", "demo:v1"}).exit_code, 0);
  const std::string mnt = dir_ / "mnt";
  ::mkdir(mnt.c_str(), 0755);
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    std::string line;
    std::getline(in, line);
    return line;
  };
  // A named container: changes survive an unmount, the image does not change.
  CommandResult mounted = Strata({"mount", "--name", "web", "demo:v1", mnt});
  ASSERT_EQ(mounted.exit_code, 0) << mounted.err;
  {
    std::ofstream out(mnt + "/opt/app/README");
    out << "edited\n";
  }
  ASSERT_EQ(::unlink((mnt + "/opt/app/README").c_str()) == 0 ? 0 : errno, 0);
  {
    std::ofstream out(mnt + "/opt/app/README");
    out << "rewritten\n";
  }
  ASSERT_EQ(Strata({"umount", mnt}).exit_code, 0);
  ASSERT_TRUE(WaitForMount(mnt, false, 10000));
  EXPECT_EQ(read(dir_ / "store/containers/web/diff/opt/app/README"), "rewritten");
  ASSERT_EQ(Strata({"mount", "--name", "web", "demo:v1", mnt}).exit_code, 0);
  EXPECT_EQ(read(mnt + "/opt/app/README"), "rewritten") << "the container's changes are back";
  // Mounted: the container cannot be removed; its image cannot either.
  EXPECT_NE(Strata({"container", "rm", "web"}).exit_code, 0);
  CommandResult rm_image = Strata({"rm", "demo:v1"});
  EXPECT_NE(rm_image.exit_code, 0);
  EXPECT_NE(rm_image.err.find("used by container 'web'"), std::string::npos) << rm_image.err;
  ASSERT_EQ(Strata({"umount", mnt}).exit_code, 0);
  ASSERT_TRUE(WaitForMount(mnt, false, 10000));
  CommandResult list = Strata({"container", "ls", "--format", "json"});
  EXPECT_NE(list.out.find("\"name\": \"web\""), std::string::npos) << list.out;
  // The image, read-only, is as imported.
  ASSERT_EQ(Strata({"mount", "--read-only", "demo:v1", mnt}).exit_code, 0);
  EXPECT_EQ(read(mnt + "/opt/app/README"), "fresh");
  ASSERT_EQ(Strata({"umount", mnt}).exit_code, 0);
  ASSERT_TRUE(WaitForMount(mnt, false, 10000));
  // --upper keeps the changes outside the store.
  ASSERT_EQ(Strata({"mount", "--upper", dir_ / "mine", "demo:v1", mnt}).exit_code, 0);
  {
    std::ofstream out(mnt + "/new-file");
    out << "outside\n";
  }
  ASSERT_EQ(Strata({"umount", mnt}).exit_code, 0);
  ASSERT_TRUE(WaitForMount(mnt, false, 10000));
  EXPECT_EQ(read(dir_ / "mine/diff/new-file"), "outside");
  CommandResult bad = Strata({"mount", "--name", "bad/name", "demo:v1", mnt});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("container name 'bad/name'"), std::string::npos) << bad.err;
  // Removing the container frees the image.
  CommandResult rm = Strata({"container", "rm", "web"});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(Strata({"rm", "demo:v1"}).exit_code, 0);
  EXPECT_NE(Strata({"container", "rm", "web"}).exit_code, 0) << "already gone";
}

TEST_F(ImageTest, ImportKilledAtAnyPointIsFinishedByTheNext) {
  BuildImage();
  // A bigger layer so that the kill lands mid-extraction at least sometimes.
  Sh(R"(umoci unpack --image img:latest b >/dev/null
head -c 64000000 /dev/urandom > b/rootfs/big
umoci repack --image img:latest b
rm -rf b ref
umoci unpack --image img:latest ref >/dev/null)");
  for (int delay_ms : {5, 40, 150, 400}) {
    SCOPED_TRACE("killed after " + std::to_string(delay_ms) + " ms");
    RunStrataKilledAfter({"--root", dir_ / "store", "--quiet", "import", dir_ / "img"},
                         delay_ms);
    // No half layer is ever visible: every published layer has its record.
    EXPECT_EQ(LayersWithoutRecord(dir_ / "store"), "") << "layers without a record";
  }
  CommandResult finished = Strata({"import", dir_ / "img"});
  ASSERT_EQ(finished.exit_code, 0) << finished.err;
  CommandResult prune = Strata({"prune"});
  ASSERT_EQ(prune.exit_code, 0) << prune.err;
  ExpectMountEqualsUmociUnpack(dir_ / "store", "img");
}

}  // namespace
}  // namespace strata::testing
