// strata commit and save against real mounts and tools nobody here wrote: a container's changes
// made through a stratafs mount (renamed lower directories, whiteouts, opaque directories, hard
// links whose other names stay below, xattrs, devices) committed as an image that stratafs and
// kernel overlayfs both show exactly as the container showed it; the image saved in every
// format and read back by skopeo, podman and strata with the same identities.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "fs/base/unique_fd.h"
#include "tests/support/file_data.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tree_dump.h"

namespace strata::testing {
namespace {

class CommitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    for (const char* tool : {"/usr/bin/umoci", "/usr/bin/skopeo"}) {
      if (::access(tool, X_OK) != 0) GTEST_SKIP() << tool << " is not installed";
    }
    ::mkdir((dir_ / "mnt").c_str(), 0755);
    // Two layers; the second removes a file and a directory.
    Sh(R"(umoci init --layout img
umoci new --image img:1.0
umoci unpack --image img:1.0 b >/dev/null
r=b/rootfs
mkdir -p $r/bin $r/etc/app $r/srv/www/static $r/var/lib/db $r/opt/tool $r/dev
cp /bin/busybox $r/bin/busybox && ln -s busybox $r/bin/sh
echo conf > $r/etc/app/conf && echo gone > $r/etc/app/gone
echo index > $r/srv/www/index.html && echo css > $r/srv/www/static/site.css
ln $r/srv/www/index.html $r/etc/app/index-link
echo a > $r/var/lib/db/a && echo b > $r/var/lib/db/b
echo tool > $r/opt/tool/run && chmod 755 $r/opt/tool/run
head -c 200000 /dev/urandom > $r/opt/tool/blob
setfattr -n user.origin -v image $r/etc/app/conf
mknod $r/dev/null c 1 3
umoci repack --image img:1.0 b
rm -rf b
umoci unpack --image img:1.0 b >/dev/null
rm b/rootfs/etc/app/gone
umoci repack --image img:1.0 b
rm -rf b)");
    ASSERT_EQ(Strata({"import", dir_ / "img", "--name", "base:1"}).exit_code, 0);
  }
  void TearDown() override { Unmount(dir_ / "mnt"); }

  void Sh(const std::string& script) {
    CommandResult r = RunCommand({"/bin/sh", "-ec", "cd " + dir_.path() + "\n" + script}, 120000);
    ASSERT_EQ(r.exit_code, 0) << script << "\n" << r.out << r.err;
  }
  CommandResult Strata(std::vector<std::string> args, const std::string& root = "") {
    args.insert(args.begin(), {STRATA_PATH, "--root", root.empty() ? dir_ / "store" : root});
    return RunCommand(args, 120000);
  }
  std::string Field(const std::string& ref, const std::string& key,
                    const std::string& root = "") {
    CommandResult r = Strata({"inspect", ref}, root);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const size_t at = r.out.find("\"" + key + "\": \"");
    if (at == std::string::npos) return "";
    const size_t start = at + key.size() + 5;
    return r.out.substr(start, r.out.find('"', start) - start);
  }
  // Mounts container C1 of base:1, makes every kind of change, and returns what it showed.
  Tree ChangeContainer() {
    CommandResult m = Strata({"mount", "base:1", dir_ / "mnt", "--name", "c1"});
    EXPECT_EQ(m.exit_code, 0) << m.err;
    Sh(R"(m=mnt
echo new > $m/etc/app/new
echo more >> $m/etc/app/conf
rm $m/var/lib/db/a
rm -rf $m/opt/tool && mkdir $m/opt/tool && echo fresh > $m/opt/tool/run
mv $m/srv/www $m/srv/site
chmod 600 $m/etc/app/index-link
ln $m/etc/app/new $m/etc/app/new-link
setfattr -n user.note -v changed $m/etc/app/conf
ln -s ../etc/app/conf $m/bin/conf
mkfifo $m/etc/app/fifo
mknod $m/dev/zero c 1 5
touch -d '2001-02-03 04:05:06.789' $m/var/lib/db/b
mkdir -p $m/home/user && echo hi > $m/home/user/.profile)");
    Tree shown = DumpTree(dir_ / "mnt");
    EXPECT_EQ(Strata({"umount", dir_ / "mnt"}).exit_code, 0);
    EXPECT_TRUE(WaitForMount(dir_ / "mnt", false, 10000));
    return shown;
  }
  std::vector<std::string> Lowerdirs(const std::string& ref, const std::string& root = "") {
    CommandResult r = Strata({"lowerdirs", ref}, root);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::vector<std::string> dirs;
    std::string list = r.out.substr(std::string("lowerdir=").size());
    list = list.substr(0, list.find('\n'));
    for (size_t p = 0; p <= list.size();) {
      const size_t end = std::min(list.find(':', p), list.size());
      dirs.push_back(list.substr(p, end - p));
      p = end + 1;
    }
    return dirs;
  }
  Tree MountedTree(const std::string& ref, const std::string& root = "") {
    StrataMount m({"-o", LowerdirOption(Lowerdirs(ref, root))}, dir_ / "mnt");
    EXPECT_TRUE(m.ok()) << m.error();
    if (!m.ok()) return {};
    Tree tree = DumpTree(dir_ / "mnt");
    EXPECT_EQ(m.Stop(), 0) << m.Stderr();
    return tree;
  }
  TempDir dir_;
};

TEST_F(CommitTest, TheCommittedImageShowsWhatTheContainerShowed) {
  const Tree container = ChangeContainer();
  ASSERT_FALSE(container.empty());
  CommandResult c = Strata({"commit", "c1", "app:2", "-m", "every kind of change"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find("localhost/app:2"), std::string::npos) << c.out;

  const Tree committed = MountedTree("app:2");
  EXPECT_EQ(DiffLines(Canonical(container), Canonical(committed)), "");
  EXPECT_EQ(CheckInodes(committed, container), "") << "hard links as the container had them";
  EXPECT_EQ(committed.at("/etc/app/index-link").mode & 07777, 0600u);
  EXPECT_EQ(committed.at("/srv/site/index.html").mode & 07777, 0600u)
      << "the other name of the file chmod'ed, in the renamed directory";

  // Kernel overlayfs reads the same layers the same way.
  {
    KernelOverlay kernel(Lowerdirs("app:2"), dir_ / "mnt");
    ASSERT_TRUE(kernel.ok()) << kernel.error();
    const Tree by_kernel = DumpTree(dir_ / "mnt", /*skip_phantoms=*/true);
    EXPECT_EQ(DiffLines(Canonical(container), Canonical(by_kernel)), "");
  }
  Unmount(dir_ / "mnt");

  CommandResult history = Strata({"history", "app:2"});
  EXPECT_NE(history.out.find("strata commit"), std::string::npos) << history.out;
  CommandResult config = Strata({"inspect", "--config", "app:2"});
  EXPECT_NE(config.out.find("every kind of change"), std::string::npos) << config.out;
  EXPECT_EQ(Strata({"verify"}).exit_code, 0);

  // The container is untouched: mounted again it shows the same, and it commits again to the
  // same layer.
  CommandResult again = Strata({"commit", "c1", "--compression", "zstd"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("zstd"), std::string::npos) << again.out;
}

TEST_F(CommitTest, AMountedContainerIsRefusedAndLeftAlone) {
  CommandResult m = Strata({"mount", "base:1", dir_ / "mnt", "--name", "c1"});
  ASSERT_EQ(m.exit_code, 0) << m.err;
  Sh("echo x > mnt/x");
  CommandResult c = Strata({"commit", "c1", "app:2"});
  EXPECT_NE(c.exit_code, 0);
  EXPECT_NE(c.err.find("is mounted"), std::string::npos) << c.err;
  std::ifstream x(dir_ / "mnt/x");
  std::string line;
  std::getline(x, line);
  EXPECT_EQ(line, "x") << "the mount keeps working";
  x.close();
  EXPECT_EQ(Strata({"umount", dir_ / "mnt"}).exit_code, 0);
  EXPECT_TRUE(WaitForMount(dir_ / "mnt", false, 10000));
  EXPECT_NE(Strata({"commit", "nope"}).exit_code, 0);
  EXPECT_NE(Strata({"commit", "c1", "Bad:Name:x"}).exit_code, 0);
  CommandResult images = Strata({"images", "-q"});
  EXPECT_EQ(std::count(images.out.begin(), images.out.end(), '\n'), 1) << images.out;
  EXPECT_EQ(Strata({"commit", "c1", "app:2"}).exit_code, 0);
}

TEST_F(CommitTest, SavedImagesLoadInOtherToolsWithTheSameIdentities) {
  ChangeContainer();
  ASSERT_EQ(Strata({"commit", "c1", "app:2"}).exit_code, 0);
  const std::string id = Field("app:2", "id");
  const std::string manifest = Field("app:2", "manifest_digest");
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(Strata({"save", "app:2", "-o", dir_ / "app.tar"}).exit_code, 0);
  ASSERT_EQ(Strata({"save", "app:2", "base:1", "--format", "docker-archive", "-o",
                    dir_ / "both.tar"}).exit_code, 0);
  ASSERT_EQ(Strata({"save", "app:2", "--format", "oci-dir", "-o", dir_ / "appdir"}).exit_code, 0);

  // skopeo: the digest it computes for the saved manifest is the stored one, and copying
  // checks every blob against its digest.
  CommandResult digest = RunCommand(
      {"/usr/bin/skopeo", "inspect", "--format", "{{.Digest}}", "oci-archive:" + (dir_ / "app.tar")});
  ASSERT_EQ(digest.exit_code, 0) << digest.err;
  EXPECT_EQ(digest.out.substr(0, digest.out.find('\n')), manifest);
  Sh("skopeo --insecure-policy copy -q oci:appdir:localhost/app:2 oci:copied:x\n"
     "skopeo --insecure-policy copy -q docker-archive:both.tar:localhost/base:1 oci:copied:b");

  // podman loads the docker-archive (both images) with their IDs, and runs a container from
  // the committed one that sees the container's changes.
  if (::access("/usr/bin/podman", X_OK) == 0) {
    const std::string podman = "podman --root " + (dir_ / "proot") + " --runroot " +
                               (dir_ / "prun") +
                               " --storage-driver vfs --events-backend file --runtime runc "
                               "--cgroup-manager cgroupfs";
    Sh(podman + " load -q -i both.tar >/dev/null\n" + podman +
       " image inspect --format '{{.Id}}' localhost/app:2 > podman-id\n" + podman +
       " image inspect --format '{{.Id}}' localhost/base:1 >> podman-id\n" + podman +
       " run --rm --network none --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 "
       "localhost/app:2 sh -c 'cat /etc/app/new; ls /srv; test ! -e /var/lib/db/a' > ran\n" +
       podman + " load -q -i app.tar >/dev/null");
    EXPECT_EQ(ReadPath(dir_ / "ran"), "new\nsite\n") << "the committed changes, in podman";
    std::ifstream ids(dir_ / "podman-id");
    std::string app_id, base_id;
    std::getline(ids, app_id);
    std::getline(ids, base_id);
    EXPECT_EQ("sha256:" + app_id, id);
    EXPECT_EQ("sha256:" + base_id, Field("base:1", "id"));
  }

  // strata reads every format back: the same image, the same tree.
  const Tree original = MountedTree("app:2");
  int n = 0;
  for (const std::string& source :
       {"oci-archive:" + (dir_ / "app.tar") + ":localhost/app:2", dir_ / "both.tar",
        dir_ / "appdir"}) {
    SCOPED_TRACE(source);
    const std::string root = dir_ / ("store" + std::to_string(n++));
    CommandResult r = Strata({"import", source}, root);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(Field("app:2", "id", root), id);
    if (source != dir_ / "both.tar") {  // docker-archive has no manifest of its own
      EXPECT_EQ(Field("app:2", "manifest_digest", root), manifest);
    }
    EXPECT_EQ(DiffLines(Canonical(original), Canonical(MountedTree("app:2", root))), "");
  }
}

TEST_F(CommitTest, SaveRefusesWhatItCannotDoAndLeavesNothingBehind) {
  EXPECT_NE(Strata({"save", "nosuch:1", "-o", dir_ / "x.tar"}).exit_code, 0);
  EXPECT_NE(::access((dir_ / "x.tar").c_str(), F_OK), 0);
  Sh("mkdir full && echo mine > full/index.json");
  CommandResult full = Strata({"save", "base:1", "--format", "oci-dir", "-o", dir_ / "full"});
  EXPECT_NE(full.exit_code, 0);
  EXPECT_NE(full.err.find("not empty"), std::string::npos) << full.err;
  std::ifstream kept(dir_ / "full/index.json");
  std::string line;
  std::getline(kept, line);
  EXPECT_EQ(line, "mine");

  // A kept blob that no longer hashes to its digest fails the save; no file is left.
  const std::string diff = Field("base:1", "diff_id");
  ASSERT_FALSE(diff.empty());
  const std::string blob = dir_ / ("store/layers/" + diff.substr(7) + "/blob");
  {
    UniqueFd fd(::open(blob.c_str(), O_WRONLY));
    ASSERT_TRUE(fd);
    ASSERT_EQ(::pwrite(fd.Get(), "XXXX", 4, 100), 4);
  }
  for (const char* format : {"oci-archive", "docker-archive"}) {
    CommandResult bad = Strata({"save", "base:1", "--format", format, "-o", dir_ / "bad.tar"});
    EXPECT_NE(bad.exit_code, 0) << format;
    EXPECT_NE(::access((dir_ / "bad.tar").c_str(), F_OK), 0) << format;
  }
  Sh("ls -a | grep -c tmp- | grep -qx 0 || { ls -a; exit 1; }");
}

// The listings take podman's flags: templates, filters, sorting, digests, untruncated IDs,
// history options, inspect --format and the image tree.
TEST_F(CommitTest, ListingsTakePodmansFlags) {
  ChangeContainer();
  ASSERT_EQ(Strata({"commit", "c1", "app:2"}).exit_code, 0);
  ASSERT_EQ(Strata({"commit", "c1"}).exit_code, 0);  // unnamed: dangling
  const std::string app = Field("app:2", "id"), base = Field("base:1", "id");
  auto out = [&](std::vector<std::string> args) {
    CommandResult r = Strata(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  };
  const std::string names = out({"images", "--format", "{{.Repository}}:{{.Tag}}"});
  EXPECT_NE(names.find("localhost/app:2\n"), std::string::npos) << names;
  EXPECT_NE(names.find("localhost/base:1\n"), std::string::npos) << names;
  EXPECT_NE(names.find("<none>:<none>\n"), std::string::npos) << names;
  EXPECT_EQ(out({"images", "-f", "reference=app", "--format", "{{.Repository}}"}),
            "localhost/app\n");
  EXPECT_EQ(out({"images", "-f", "reference=*/ba*:1", "-q", "--no-trunc"}), base + "\n");
  EXPECT_EQ(out({"images", "-f", "dangling=true", "-f", "since=base:1", "-q"}).size(), 13u);
  EXPECT_EQ(out({"images", "-f", "before=app:2", "-q", "--no-trunc"}), base + "\n");
  const std::string digests = out({"images", "--digests", "-f", "reference=app:2"});
  EXPECT_NE(digests.find("DIGEST"), std::string::npos) << digests;
  EXPECT_NE(digests.find(Field("app:2", "manifest_digest")), std::string::npos) << digests;
  const std::string sorted =
      out({"images", "--sort", "size", "-n", "-f", "dangling=false", "--format",
           "table {{.Repository}}\\t{{.Size}}"});
  EXPECT_TRUE(sorted.starts_with("localhost/app ")) << "the bigger image first\n" << sorted;
  EXPECT_EQ(sorted.find("REPOSITORY"), std::string::npos) << "no header with -n";
  EXPECT_NE(Strata({"images", "--format", "{{if .ID}}x{{end}}"}).exit_code, 0);
  EXPECT_NE(Strata({"images", "-f", "size=1"}).exit_code, 0);

  const std::string ids = out({"history", "-q", "--no-trunc", "app:2"});
  EXPECT_EQ(std::count(ids.begin(), ids.end(), '\n'), 3) << ids;
  EXPECT_TRUE(ids.starts_with("sha256:")) << ids;
  const std::string bytes = out({"history", "--human=false", "app:2", "--format", "{{.Size}}"});
  EXPECT_EQ(bytes.find_first_not_of("0123456789\n"), std::string::npos) << bytes;
  EXPECT_EQ(out({"inspect", "--format", "{{.Id}} {{json .RepoTags}}", "app:2"}),
            app + " [\"localhost/app:2\"]\n");

  const std::string tree = out({"image", "tree", "app:2"});
  EXPECT_NE(tree.find("Tags:     [localhost/app:2]"), std::string::npos) << tree;
  EXPECT_NE(tree.find("Top Layer of: [localhost/base:1]"), std::string::npos) << tree;
  EXPECT_NE(tree.find("└── ID: "), std::string::npos) << tree;
}

}  // namespace
}  // namespace strata::testing
