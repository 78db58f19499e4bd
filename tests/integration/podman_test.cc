// stratafs as containers/storage's mount_program, driven by podman and buildah (clients
// nobody here wrote): an image imported offline from a busybox-static rootfs, containers that
// change, delete and rename files of the image, `podman commit` and `buildah commit` of the
// result, and new containers from the committed images.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/layer_builder.h"
#include "fs/base/mount_table.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"

namespace strata::testing {
namespace {

class PodmanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    if (::access("/usr/bin/podman", X_OK) != 0 || ::access("/usr/bin/buildah", X_OK) != 0) {
      GTEST_SKIP() << "podman or buildah is not installed (scripts/install-deps installs them)";
    }
    if (::access("/bin/busybox", X_OK) != 0) GTEST_SKIP() << "needs busybox-static";
    storage_ = {"--root",           dir_ / "root",
                "--runroot",        dir_ / "run",
                "--storage-driver", "overlay",
                "--storage-opt",    std::string("overlay.mount_program=") + STRATAFS_PATH};
    // A busybox rootfs with a file to change, one to delete and a directory to rename.
    LayerBuilder rootfs(dir_ / "rootfs");
    rootfs.File("etc/greeting", "hello\n").File("etc/remove-me", "x\n").File("data/keep", "k\n");
    const std::string bin = dir_ / "rootfs/bin";
    ::mkdir(bin.c_str(), 0755);
    CommandResult cp = RunCommand({"/bin/cp", "/bin/busybox", bin + "/busybox"});
    ASSERT_EQ(cp.exit_code, 0) << cp.err;
    for (const char* applet : {"sh", "cat", "ls", "rm", "mv", "mkdir", "grep", "sed", "echo"}) {
      ASSERT_EQ(::symlink("busybox", (bin + "/" + applet).c_str()), 0);
    }
    CommandResult tar =
        RunCommand({"/bin/tar", "-C", dir_ / "rootfs", "-cf", dir_ / "rootfs.tar", "."});
    ASSERT_EQ(tar.exit_code, 0) << tar.err;
    CommandResult imported = Podman({"import", dir_ / "rootfs.tar", "localhost/strata-bb:1"});
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
  }

  void TearDown() override {
    if (storage_.empty()) return;
    Podman({"rm", "-a", "-f"});
    Buildah({"rm", "-a"});
    Podman({"rmi", "-a", "-f"});
    // Anything podman left mounted under our storage (it should have unmounted all).
    const std::vector<std::string> left = MountPointsUnder(dir_.path());
    for (auto it = left.rbegin(); it != left.rend(); ++it) Unmount(*it);
    EXPECT_TRUE(left.empty()) << "podman left " << left.size() << " mounts";
  }

  CommandResult Podman(std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/podman"};
    argv.insert(argv.end(), storage_.begin(), storage_.end());
    for (const char* o :
         {"--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file"}) {
      argv.push_back(o);
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, 120000);
  }
  CommandResult Buildah(std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/buildah"};
    argv.insert(argv.end(), storage_.begin(), storage_.end());
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, 120000);
  }
  // `podman run` of SCRIPT in IMAGE with this machine's flags; extra args before the image.
  CommandResult Run(const std::string& image, const std::string& script,
                    std::vector<std::string> extra = {"--rm"}) {
    std::vector<std::string> args = {
        "run", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"};
    args.insert(args.end(), extra.begin(), extra.end());
    if (!image.empty()) args.push_back(image);  // empty: --rootfs in EXTRA gives the root
    args.insert(args.end(), {"sh", "-c", script});
    return Podman(args);
  }

  TempDir dir_;
  std::vector<std::string> storage_;
};

TEST_F(PodmanTest, ContainersRunWriteAndCommitOnStratafs) {
  // The container's root is a stratafs mount (the fstype follows " - " in mountinfo), and every
  // kind of change works inside it.
  CommandResult r = Run("localhost/strata-bb:1",
                        "grep ' / / ' /proc/self/mountinfo | sed 's/.* - //; s/ .*//'; "
                        "cat /etc/greeting; echo changed > /etc/greeting; cat /etc/greeting; "
                        "rm /etc/remove-me; mv /data /moved; mkdir -p /new/dir; "
                        "echo made > /new/dir/f; ls /etc /moved",
                        {"--name", "c1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), "fuse.stratafs") << r.out;
  EXPECT_NE(r.out.find("hello\nchanged\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("remove-me"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("keep"), std::string::npos) << r.out;

  // podman commit turns the upper layer (our whiteouts, the renamed directory) into a layer.
  CommandResult c = Podman({"commit", "-q", "c1", "localhost/strata-bb:2"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  r = Run("localhost/strata-bb:2",
          "cat /etc/greeting /new/dir/f /moved/keep; ls /etc/remove-me /data 2>&1; true");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("changed\nmade\nk\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/etc/remove-me: No such file"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/data: No such file"), std::string::npos) << r.out;
  // The image itself is unchanged.
  r = Run("localhost/strata-bb:1", "cat /etc/greeting /etc/remove-me /data/keep");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hello\nx\nk\n");
}

TEST_F(PodmanTest, RunsAStrataStoreImageMountedWritable) {
  // podman saves the image, strata imports it into its own store and mounts it writable, and
  // podman runs a container on that mount (--rootfs): its changes land in strata's container.
  CommandResult saved =
      Podman({"save", "--format", "oci-archive", "-o", dir_ / "bb.tar", "localhost/strata-bb:1"});
  ASSERT_EQ(saved.exit_code, 0) << saved.err;
  const std::string store = dir_ / "strata-store";
  auto strata = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {STRATA_PATH, "--root", store, "-q"});
    return RunCommand(args, 120000);
  };
  CommandResult imported = strata({"import", dir_ / "bb.tar", "--name", "bb:1"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  const std::string mnt = dir_ / "mnt";
  ::mkdir(mnt.c_str(), 0755);
  ASSERT_EQ(strata({"mount", "--name", "c1", "bb:1", mnt}).exit_code, 0);
  CommandResult r = Run("", "cat /etc/greeting; echo from-podman > /etc/podman-was-here",
                        {"--rm", "--rootfs", mnt});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "hello\n");
  EXPECT_EQ(strata({"umount", mnt}).exit_code, 0);
  ASSERT_TRUE(WaitForMount(mnt, false, 10000));
  std::ifstream kept(store + "/containers/c1/diff/etc/podman-was-here");
  std::string line;
  std::getline(kept, line);
  EXPECT_EQ(line, "from-podman");
}

TEST_F(PodmanTest, BuildahRunsAndCommitsOnStratafs) {
  CommandResult from = Buildah({"from", "-q", "localhost/strata-bb:1"});
  ASSERT_EQ(from.exit_code, 0) << from.err;
  const std::string ctr = from.out.substr(0, from.out.find('\n'));
  CommandResult r = Buildah({"run", "--isolation", "chroot", ctr, "--", "sh", "-c",
                             "grep ' / / ' /proc/self/mountinfo | sed 's/.* - //; s/ .*//'; "
                             "echo built > /etc/built; rm /etc/greeting"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "fuse.stratafs\n");
  CommandResult c = Buildah({"commit", "-q", ctr, "localhost/strata-bb:3"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  r = Run("localhost/strata-bb:3", "cat /etc/built; ls /etc/greeting 2>&1; true");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("built\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("No such file"), std::string::npos) << r.out;
}

// Rootless podman: an unprivileged user with subordinate ids runs podman, which starts
// stratafs inside its user namespace (through fusermount3). The user is created for the test
// (and removed after it) unless it exists; /dev/fuse is made 0666 as distributions ship it.
class RootlessPodmanTest : public ::testing::Test {
 protected:
  static constexpr const char* kUser = "strata-rootless";

  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    for (const char* tool : {"/usr/bin/podman", "/usr/bin/newuidmap", "/usr/sbin/runuser",
                             "/usr/sbin/useradd", "/bin/busybox"}) {
      if (::access(tool, X_OK) != 0) GTEST_SKIP() << "needs " << tool;
    }
    if (::getpwnam(kUser) == nullptr) {
      CommandResult add = RunCommand(
          {"/usr/sbin/useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", kUser});
      ASSERT_EQ(add.exit_code, 0) << add.err;
      created_user_ = true;
      CommandResult ids = RunCommand({"/usr/sbin/usermod", "--add-subuids", "300000-365535",
                                      "--add-subgids", "300000-365535", kUser});
      ASSERT_EQ(ids.exit_code, 0) << ids.err;
    }
    const struct passwd* pw = ::getpwnam(kUser);
    ASSERT_NE(pw, nullptr);
    uid_ = pw->pw_uid;
    struct stat st;
    ASSERT_EQ(::stat("/dev/fuse", &st), 0);
    fuse_mode_ = st.st_mode & 07777;
    ASSERT_EQ(::chmod("/dev/fuse", 0666), 0);

    ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
    std::filesystem::copy_file(STRATAFS_PATH, dir_ / "stratafs");
    ASSERT_EQ(::chmod((dir_ / "stratafs").c_str(), 0755), 0);
    LayerBuilder rootfs(dir_ / "rootfs");
    rootfs.File("etc/greeting", "hello\n").File("etc/remove-me", "x\n");
    ::mkdir((dir_ / "rootfs/bin").c_str(), 0755);
    std::filesystem::copy_file("/bin/busybox", dir_ / "rootfs/bin/busybox");
    ASSERT_EQ(::chmod((dir_ / "rootfs/bin/busybox").c_str(), 0755), 0);
    for (const char* applet : {"sh", "cat", "ls", "rm", "grep", "sed", "echo", "id"}) {
      ASSERT_EQ(::symlink("busybox", (dir_ / "rootfs/bin/").append(applet).c_str()), 0);
    }
    CommandResult tar =
        RunCommand({"/bin/tar", "-C", dir_ / "rootfs", "-cf", dir_ / "rootfs.tar", "."});
    ASSERT_EQ(tar.exit_code, 0) << tar.err;
    for (const char* d : {"home", "xdg"}) {
      ::mkdir((dir_ / d).c_str(), 0700);
      ASSERT_EQ(::chown((dir_ / d).c_str(), uid_, uid_), 0);
    }
    ready_ = true;
  }

  void TearDown() override {
    if (ready_) {
      AsUser({"rm", "-a", "-f"});
      // podman keeps a pause process holding its user namespace: ours to end.
      std::ifstream pid_file(dir_ / "xdg/libpod/tmp/pause.pid");
      pid_t pause = 0;
      if (pid_file >> pause && pause > 1) ::kill(pause, SIGKILL);
      const std::vector<std::string> left = MountPointsUnder(dir_.path());
      for (auto it = left.rbegin(); it != left.rend(); ++it) Unmount(*it);
      EXPECT_TRUE(left.empty()) << "podman left " << left.size() << " mounts";
    }
    if (fuse_mode_) ::chmod("/dev/fuse", fuse_mode_);
    if (created_user_) RunCommand({"/usr/sbin/userdel", kUser});
  }

  // podman as the user, with its store in our temp dir and stratafs as mount_program.
  CommandResult AsUser(std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/sbin/runuser",
                                     "-u",
                                     kUser,
                                     "--",
                                     "/usr/bin/env",
                                     "HOME=" + (dir_ / "home"),
                                     "XDG_RUNTIME_DIR=" + (dir_ / "xdg"),
                                     "TMPDIR=" + (dir_ / "xdg"),
                                     "/usr/bin/podman",
                                     "--root",
                                     dir_ / "home/storage",
                                     "--runroot",
                                     dir_ / "xdg/run",
                                     "--storage-driver",
                                     "overlay",
                                     "--storage-opt",
                                     "overlay.mount_program=" + (dir_ / "stratafs"),
                                     "--runtime",
                                     "runc",
                                     "--cgroup-manager",
                                     "cgroupfs",
                                     "--events-backend",
                                     "file"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, 120000);
  }
  CommandResult Run(const std::string& image, const std::string& script,
                    std::vector<std::string> extra) {
    std::vector<std::string> args = {
        "run", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"};
    args.insert(args.end(), extra.begin(), extra.end());
    args.insert(args.end(), {image, "sh", "-c", script});
    return AsUser(args);
  }

  TempDir dir_{"/tmp"};
  uid_t uid_ = 0;
  mode_t fuse_mode_ = 0;
  bool created_user_ = false;
  bool ready_ = false;
};

TEST_F(RootlessPodmanTest, ContainersRunAndCommitOnStratafsInAUserNamespace) {
  CommandResult imported = AsUser({"import", "-q", dir_ / "rootfs.tar", "localhost/rl:1"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  CommandResult r = Run("localhost/rl:1",
                        "grep ' / / ' /proc/self/mountinfo | sed 's/.* - //; s/ .*//'; id -u; "
                        "echo changed > /etc/greeting; rm /etc/remove-me; ls -ln /etc/greeting",
                        {"--name", "rl1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')), "fuse.stratafs") << r.out;
  // Inside the namespace the files are root's, as the image says.
  EXPECT_NE(r.out.find("\n0\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" 0        0 "), std::string::npos) << r.out;
  CommandResult c = AsUser({"commit", "-q", "rl1", "localhost/rl:2"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  r = Run("localhost/rl:2", "cat /etc/greeting; ls /etc/remove-me 2>&1; true", {"--rm"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("changed\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("No such file"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace strata::testing
