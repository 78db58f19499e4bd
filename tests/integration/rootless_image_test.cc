// strata for a user without privileges, end to end: images made by buildah (a docker-archive
// and an OCI layout), skopeo (the dir: transport) and umoci are imported into the user's own
// store ($XDG_DATA_HOME/strata), mounted through fusermount3 read-only and writable, changed,
// unmounted with `strata umount` and mounted again. Every mounted tree must equal what root's
// store shows for the same image: foreign owners, setuid bits and device nodes the user could
// not create are kept in user.containers.override_stat and shown through xattr_permissions.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tree_dump.h"

namespace strata::testing {
namespace {

constexpr uid_t kNobody = 65534;

// The images: buildah writes whiteouts (a file and a directory) with mode 0000, a device node,
// a FIFO, hard links, an xattr, a setuid binary, a home directory the user owns and a sticky
// /tmp; umoci adds foreign owners; skopeo copies the OCI layout to a dir: image.
constexpr const char* kBuildImages =
    R"(B="buildah --root $PWD/broot --runroot $PWD/brun --storage-driver vfs"
trap '$B rm -a >/dev/null 2>&1 || true' EXIT
c=$($B from -q scratch)
m=$($B mount $c)
mkdir -p $m/bin $m/etc/app $m/var/lib/old $m/dev $m/home/nobody/dir $m/tmp
cp /bin/busybox $m/bin/busybox && ln -s busybox $m/bin/sh
echo conf > $m/etc/app/conf && echo gone > $m/etc/app/gone && echo keep > $m/var/lib/old/a
echo linked > $m/etc/app/l1 && ln $m/etc/app/l1 $m/etc/app/l2
setfattr -n user.note -v hello $m/etc/app/conf
mkfifo $m/etc/app/fifo && mknod $m/dev/null c 1 3
echo notes > $m/home/nobody/notes && echo old > $m/home/nobody/old && echo x > $m/home/nobody/dir/x
chown -R 65534:65534 $m/home/nobody && chmod 1777 $m/tmp
$B umount $c >/dev/null && $B commit -q $c base >/dev/null && $B rm $c >/dev/null
c=$($B from -q base)
m=$($B mount $c)
rm $m/etc/app/gone && rm -rf $m/var/lib/old && chmod 4755 $m/bin/busybox
$B umount $c >/dev/null && $B commit -q $c final >/dev/null
$B push -q final oci:$PWD/boci:latest
$B push -q final docker-archive:$PWD/bdocker.tar:final:latest
skopeo copy -q oci:$PWD/boci:latest dir:$PWD/bdir
umoci init --layout uimg && umoci new --image uimg:latest
umoci unpack --image uimg:latest ub >/dev/null
mkdir -p ub/rootfs/etc ub/rootfs/dev && echo owned > ub/rootfs/etc/owned
chown 1000:1001 ub/rootfs/etc/owned && chmod 0604 ub/rootfs/etc/owned
mknod ub/rootfs/dev/zero c 1 5 && mknod ub/rootfs/dev/loop0 b 7 0
umoci repack --image uimg:latest ub && rm -rf ub
chmod -R a+rX boci bdocker.tar bdir uimg
)";

class RootlessImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    for (const char* tool : {"/usr/bin/buildah", "/usr/bin/skopeo", "/usr/bin/umoci",
                             "/usr/bin/fusermount3", "/usr/sbin/runuser"}) {
      if (::access(tool, X_OK) != 0) GTEST_SKIP() << tool << " is missing (scripts/install-deps)";
    }
    // Distributions ship /dev/fuse usable by everyone; this machine ships it 0600.
    struct stat st;
    ASSERT_EQ(::stat("/dev/fuse", &st), 0);
    fuse_mode_ = st.st_mode & 07777;
    ASSERT_EQ(::chmod("/dev/fuse", 0666), 0);
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
    // The user runs copies of the binaries it can reach.
    for (const char* bin : {STRATA_PATH, STRATAFS_PATH}) {
      const std::string to = dir_ / std::filesystem::path(bin).filename().string();
      std::filesystem::copy_file(bin, to);
      ASSERT_EQ(::chmod(to.c_str(), 0755), 0);
    }
    ASSERT_EQ(::mkdir((dir_ / "home").c_str(), 0755), 0);
    ASSERT_EQ(::chown((dir_ / "home").c_str(), kNobody, kNobody), 0);
    CommandResult r =
        RunCommand({"/bin/sh", "-ec", "cd " + dir_.path() + "\n" + kBuildImages}, 300000);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  }
  void TearDown() override {
    for (const std::string& m : mounts_) Unmount(m);  // their daemons end with their mounts
    if (fuse_mode_) ::chmod("/dev/fuse", fuse_mode_);
  }

  // strata as root, with a store of its own.
  CommandResult RootStrata(std::vector<std::string> args) {
    args.insert(args.begin(), {STRATA_PATH, "--root", dir_ / "rootstore", "--quiet"});
    return RunCommand(args, 120000);
  }
  // strata as nobody, with its default store ($XDG_DATA_HOME/strata).
  CommandResult UserStrata(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"/usr/sbin/runuser",
                                     "-u",
                                     "nobody",
                                     "--",
                                     "/usr/bin/env",
                                     "HOME=" + (dir_ / "home"),
                                     "XDG_DATA_HOME=" + (dir_ / "home/data"),
                                     dir_ / "strata",
                                     "--quiet"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, 120000);
  }
  std::string NewMountpoint() {
    const std::string m = dir_ / ("mnt" + std::to_string(mounts_.size()));
    ::mkdir(m.c_str(), 0755);
    ::chown(m.c_str(), kNobody, kNobody);
    mounts_.push_back(m);
    return m;
  }
  // What root's store shows for SOURCE (imported there first).
  std::string RootView(const std::string& source) {
    CommandResult imported = RootStrata({"import", source});
    EXPECT_EQ(imported.exit_code, 0) << imported.err;
    const std::string id = imported.out.substr(7, 12);
    CommandResult lower = RootStrata({"lowerdirs", id});
    EXPECT_EQ(lower.exit_code, 0) << lower.err;
    const std::string mnt = NewMountpoint();
    StrataMount m({"-o", lower.out.substr(0, lower.out.find('\n'))}, mnt);
    EXPECT_TRUE(m.ok()) << m.error();
    Tree tree = DumpTree(mnt);
    EXPECT_EQ(m.Stop(), 0) << m.Stderr();
    return CanonicalOf(std::move(tree));
  }
  static std::string CanonicalOf(Tree tree) {
    tree.erase("/");  // the root directory's own metadata is the importer's choice
    return Canonical(tree);
  }
  // The canonical dump of MNT as nobody sees it (a FUSE mount of nobody's is nobody's alone).
  std::string UserView(const std::string& mnt) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return "pipe failed";
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      std::string out;
      if (::setgroups(0, nullptr) != 0 || ::setresgid(kNobody, kNobody, kNobody) != 0 ||
          ::setresuid(kNobody, kNobody, kNobody) != 0) {
        out = "cannot become nobody";
      } else {
        try {
          out = CanonicalOf(DumpTree(mnt));
        } catch (const std::exception& e) {
          out = std::string("dump failed: ") + e.what();
        }
      }
      (void)!::write(fds[1], out.data(), out.size());
      ::_exit(0);
    }
    ::close(fds[1]);
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    ::waitpid(pid, nullptr, 0);
    return out;
  }
  CommandResult AsNobody(const std::string& script) {
    return RunCommand({"/usr/sbin/runuser", "-u", "nobody", "--", "/bin/sh", "-ec", script});
  }

  TempDir dir_{"/tmp"};
  mode_t fuse_mode_ = 0;
  std::vector<std::string> mounts_;
};

TEST_F(RootlessImageTest, UserImportsMountsAndChangesImagesAsRootSeesThem) {
  struct Image {
    const char* source;
    std::string root_view;
    std::string id;
  };
  std::vector<Image> images = {{"docker-archive:bdocker.tar", {}, {}},
                               {"oci:boci:latest", {}, {}},
                               {"dir:bdir", {}, {}},
                               {"oci:uimg:latest", {}, {}}};
  for (Image& image : images) {
    SCOPED_TRACE(image.source);
    // "docker-archive:bdocker.tar" -> "docker-archive:/tmp/strata-.../bdocker.tar"
    const std::string source = image.source;
    const size_t colon = source.find(':');
    const std::string spelled = source.substr(0, colon + 1) + (dir_ / source.substr(colon + 1));
    image.root_view = RootView(spelled);
    CommandResult imported = UserStrata({"import", spelled});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
    image.id = imported.out.substr(7, 12);
    // Read-only, as root sees it.
    const std::string mnt = NewMountpoint();
    CommandResult mounted = UserStrata({"mount", "--read-only", image.id, mnt});
    ASSERT_EQ(mounted.exit_code, 0) << mounted.err;
    EXPECT_EQ(DiffLines(image.root_view, UserView(mnt)), "");
    CommandResult unmounted = UserStrata({"umount", mnt});
    EXPECT_EQ(unmounted.exit_code, 0) << unmounted.err;
    EXPECT_FALSE(IsMountPoint(mnt));
  }
  // Writable: the user changes what it owns; the changes survive a remount.
  const std::string mnt = NewMountpoint();
  const std::string& id = images[0].id;
  ASSERT_EQ(UserStrata({"mount", "--name", "c1", id, mnt}).exit_code, 0);
  CommandResult changed =
      AsNobody("cd " + mnt +
               " && echo more >> home/nobody/notes && echo new > home/nobody/new"
               " && rm home/nobody/old && mv home/nobody/dir home/nobody/dir2"
               " && echo t > tmp/t && cat etc/app/conf");
  ASSERT_EQ(changed.exit_code, 0) << changed.err;
  EXPECT_EQ(changed.out, "conf\n");
  const std::string after = UserView(mnt);
  for (const char* want : {"/home/nobody/new ", "/home/nobody/dir2 ", "/tmp/t "}) {
    EXPECT_NE(after.find(want), std::string::npos) << want << " missing:\n" << after;
  }
  EXPECT_EQ(after.find("/home/nobody/old "), std::string::npos);
  ASSERT_EQ(UserStrata({"umount", mnt}).exit_code, 0);
  EXPECT_FALSE(IsMountPoint(mnt));
  ASSERT_EQ(UserStrata({"mount", "--name", "c1", id, mnt}).exit_code, 0);
  EXPECT_EQ(DiffLines(after, UserView(mnt)), "") << "after a remount";
  EXPECT_EQ(UserStrata({"umount", mnt}).exit_code, 0);
  EXPECT_FALSE(IsMountPoint(mnt));
}

}  // namespace
}  // namespace strata::testing
