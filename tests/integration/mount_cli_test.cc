// stratafs as a command: daemon mode, clean unmount, and every bad input is a clear error
// with a non-zero exit and nothing left mounted or running.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/support/file_data.h"
#include "tests/support/layer_builder.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"

namespace strata::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Pids of processes whose command line names MOUNTPOINT as an argument: the daemon this test
// started for its own unique temp mountpoint (never a process matched by name).
std::vector<pid_t> DaemonsFor(const std::string& mountpoint) {
  std::vector<pid_t> pids;
  DIR* proc = ::opendir("/proc");
  while (struct dirent* de = ::readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(de->d_name));
    if (pid <= 0) continue;
    std::ifstream in(std::string("/proc/") + de->d_name + "/cmdline");
    std::string arg;
    bool is_stratafs = false, names_mount = false;
    while (std::getline(in, arg, '\0')) {
      if (arg == STRATAFS_PATH) is_stratafs = true;
      if (arg == mountpoint) names_mount = true;
    }
    if (is_stratafs && names_mount) pids.push_back(pid);
  }
  ::closedir(proc);
  return pids;
}

class MountCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    LayerBuilder(dir_ / "l0").File("hello", "world\n");
    LayerBuilder(dir_ / "l1").File("top");
    ::mkdir(mnt_.c_str(), 0755);
  }
  void TearDown() override {
    Unmount(mnt_);
    for (pid_t pid : DaemonsFor(mnt_)) ::kill(pid, SIGKILL);
  }
  CommandResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), STRATAFS_PATH);
    return RunCommand(args, 20000);
  }
  // Expects a failure with MESSAGE on stderr and nothing mounted or left running.
  void ExpectRefused(std::vector<std::string> args, const std::string& message) {
    CommandResult r = Run(args);
    EXPECT_NE(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << "stderr: " << r.err;
    EXPECT_FALSE(IsMountPoint(mnt_));
    EXPECT_TRUE(DaemonsFor(mnt_).empty());
  }

  TempDir dir_;
  std::string mnt_ = dir_ / "mnt";
  std::string lower_ = "lowerdir=" + (dir_ / "l1") + ":" + (dir_ / "l0");
};

TEST_F(MountCliTest, DaemonizesOnlyOnceTheMountIsLive) {
  CommandResult r = Run({"-o", lower_, mnt_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The parent has exited: the mount must already be there, with no waiting.
  ASSERT_TRUE(IsMountPoint(mnt_));
  {
    std::ifstream in(mnt_ + "/hello");
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "world");
  }
  const auto daemons = DaemonsFor(mnt_);
  ASSERT_EQ(daemons.size(), 1u);
  ASSERT_TRUE(Unmount(mnt_));
  // Unmounting ends the daemon.
  for (int i = 0; i < 200 && !DaemonsFor(mnt_).empty(); ++i) ::usleep(20000);
  EXPECT_TRUE(DaemonsFor(mnt_).empty()) << "daemon still running after unmount";
}

TEST_F(MountCliTest, MountHelperArgumentOrderAndUnknownOptionsWarn) {
  CommandResult r = Run({"overlay", mnt_, "-o", lower_ + ",,frobnicate=1,nodev"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("frobnicate"), std::string::npos) << "unknown key is reported";
  ASSERT_TRUE(IsMountPoint(mnt_));
  std::ifstream info("/proc/self/mountinfo");
  std::string line, mine;
  while (std::getline(info, line)) {
    if (line.find(" " + mnt_ + " ") != std::string::npos) mine = line;
  }
  EXPECT_NE(mine.find("fuse.stratafs overlay"), std::string::npos) << mine;
  EXPECT_NE(mine.find("nodev"), std::string::npos) << mine;
  EXPECT_NE(mine.find(" ro,"), std::string::npos) << "no upperdir: read-only: " << mine;
}

// What the daemon asks the kernel for at INIT (its -d log prints libfuse's FUSE_CAP_* bits).
TEST_F(MountCliTest, VersionNamesLibfuseAndInitAsksForWhatTheHandlersNeed) {
  if (!ExtraMountOptions().empty()) GTEST_SKIP() << "checks the default mode's INIT";
  CommandResult v = Run({"--version"});
  ASSERT_EQ(v.exit_code, 0) << v.err;
  const std::string prefix = "FUSE library version 3.";
  const size_t at = v.out.find(prefix);
  ASSERT_NE(at, std::string::npos) << v.out;
  const unsigned long minor = std::stoul(v.out.substr(at + prefix.size()));

  StrataMount m({"-d", "-o", lower_}, mnt_);
  ASSERT_TRUE(m.ok()) << m.error();
  struct stat st;
  ASSERT_EQ(::stat((mnt_ + "/hello").c_str(), &st), 0);
  const std::string trace = m.Stderr();
  const std::string key = "capabilities wanted 0x";
  const size_t flags_at = trace.find(key);
  ASSERT_NE(flags_at, std::string::npos) << trace.substr(0, 2000);
  const unsigned long long flags = std::stoull(trace.substr(flags_at + key.size()), nullptr, 16);
  // fuse_common.h's FUSE_CAP_* values.
  constexpr unsigned long long kAsyncRead = 1 << 0, kAtomicOTrunc = 1 << 3, kSpliceWrite = 1 << 7,
                               kSpliceRead = 1 << 9, kAutoInvalData = 1 << 12,
                               kReaddirplus = 1 << 13, kParallelDirops = 1 << 18,
                               kPosixAcl = 1 << 19, kHandleKillpriv = 1 << 20,
                               kCacheSymlinks = 1 << 23, kWritebackCache = 1 << 16;
  for (unsigned long long bit : {kAsyncRead, kAtomicOTrunc, kSpliceWrite, kAutoInvalData,
                                 kReaddirplus, kParallelDirops, kPosixAcl, kCacheSymlinks}) {
    EXPECT_TRUE(flags & bit) << std::hex << "wanted 0x" << flags << " lack 0x" << bit;
  }
  // The handlers leave setuid/setgid and security.capability removal to the kernel; the
  // writeback cache only with -o writeback=1.
  EXPECT_FALSE(flags & kHandleKillpriv) << std::hex << flags;
  EXPECT_FALSE(flags & kWritebackCache) << std::hex << flags;
  // Requests are read from /dev/fuse, not spliced (slower with libfuse 3.18).
  EXPECT_FALSE(flags & kSpliceRead) << std::hex << flags;
  EXPECT_GE(minor, 14u);
  EXPECT_EQ(m.Stop(), 0);
  // Passthrough (libfuse 3.17+, offered by Linux 6.9+) by default, never with writeback.
  constexpr unsigned long long kPassthrough = 1ULL << 29;
  if (minor >= 17 && trace.find(" of 0x", flags_at) != std::string::npos) {
    const unsigned long long offered =
        std::stoull(trace.substr(trace.find(" of 0x", flags_at) + 6), nullptr, 16);
    if (offered & kPassthrough) {
      EXPECT_TRUE(flags & kPassthrough) << std::hex << flags;
    }
    StrataMount wb({"-d", "-o", lower_ + ",writeback=1"}, mnt_);
    ASSERT_TRUE(wb.ok()) << wb.error();
    ASSERT_EQ(::stat((mnt_ + "/hello").c_str(), &st), 0);  // INIT is answered by now
    const std::string t = wb.Stderr();
    const size_t at2 = t.find(key);
    ASSERT_NE(at2, std::string::npos);
    EXPECT_FALSE(std::stoull(t.substr(at2 + key.size()), nullptr, 16) & kPassthrough);
    EXPECT_EQ(wb.Stop(), 0);
  }
}

// FUSE over io_uring is used whenever the kernel offers it, unless io_uring=0; asking for it
// where it is not offered is a warning, and the mount works over /dev/fuse.
TEST_F(MountCliTest, IoUringIsUsedWhenTheKernelOffersIt) {
  if (DaemonLibfuseMinor() < 18) GTEST_SKIP() << "libfuse before 3.18 has no io_uring";
  if (!ExtraMountOptions().empty()) GTEST_SKIP() << "checks the default mode's io_uring use";
  {
    FuseUringEnabled uring;
    ASSERT_TRUE(uring.ok()) << uring.error();
    StrataMount on({"-o", lower_}, mnt_);
    ASSERT_TRUE(on.ok()) << on.error();
    EXPECT_TRUE(HoldsIoUring(on.pid())) << "default: io_uring when offered";
    EXPECT_EQ(Slurp(mnt_ + "/hello"), "world\n");
    EXPECT_EQ(on.Stop(), 0);
    StrataMount off({"-o", lower_ + ",io_uring=0"}, mnt_);
    ASSERT_TRUE(off.ok()) << off.error();
    EXPECT_EQ(Slurp(mnt_ + "/hello"), "world\n");
    EXPECT_FALSE(HoldsIoUring(off.pid(), 500)) << "io_uring=0 serves over /dev/fuse";
    EXPECT_EQ(off.Stop(), 0);
  }
  std::ifstream param("/sys/module/fuse/parameters/enable_uring");
  std::string value;
  param >> value;
  if (value != "N" && value != "0") return;  // the machine has it on: nothing to warn about
  StrataMount asked({"-o", lower_ + ",io_uring"}, mnt_);
  ASSERT_TRUE(asked.ok()) << asked.error();
  EXPECT_EQ(Slurp(mnt_ + "/hello"), "world\n");
  EXPECT_NE(asked.Stderr().find("does not offer FUSE over io_uring"), std::string::npos)
      << asked.Stderr();
  EXPECT_EQ(asked.Stop(), 0);
}

TEST_F(MountCliTest, BadInputIsAClearError) {
  ExpectRefused({"-o", "lowerdir=" + (dir_ / "nope"), mnt_}, "nope");
  ExpectRefused({"-o", "lowerdir=" + (dir_ / "l0/hello"), mnt_}, "Not a directory");
  ExpectRefused({"-o", lower_, dir_ / "no-such-mnt"}, "no-such-mnt");
  ExpectRefused({"-o", lower_, dir_ / "l0/hello"}, "not a directory");
  ExpectRefused({"--bogus", "-o", lower_, mnt_}, "--bogus");
  ExpectRefused({mnt_}, "lowerdir");
  ExpectRefused({"-o", lower_ + ",upperdir=" + (dir_ / "u"), mnt_}, "workdir");
  ExpectRefused({"-o", lower_ + ",xino=sometimes", mnt_}, "xino");
  std::string many = "lowerdir=";
  for (int i = 0; i < 501; ++i) many += (i ? ":" : "") + (dir_ / "l0");
  ExpectRefused({"-o", many, mnt_}, "at most 500");
}

TEST_F(MountCliTest, BadWritableLayerIsAClearError) {
  for (const char* d : {"u", "w", "w2", "full"}) ::mkdir((dir_ / d).c_str(), 0755);
  const std::string up = ",upperdir=" + (dir_ / "u");
  ExpectRefused({"-o", lower_ + ",upperdir=" + (dir_ / "nope") + ",workdir=" + (dir_ / "w"), mnt_},
                "upperdir");
  // An upper or work directory inside a lower layer (or the reverse) would change the layer.
  ::mkdir((dir_ / "l0/inner").c_str(), 0755);
  ExpectRefused(
      {"-o", lower_ + ",upperdir=" + (dir_ / "l0/inner") + ",workdir=" + (dir_ / "w"), mnt_},
      "overlaps lowerdir");
  ExpectRefused({"-o", lower_ + up + ",workdir=" + (dir_ / "u"), mnt_}, "must not contain");
  // workdir on another filesystem than upperdir: renames between them cannot work.
  TmpfsMount other(dir_ / "other");
  ASSERT_TRUE(other.ok());
  ExpectRefused({"-o", lower_ + up + ",workdir=" + other.path(), mnt_}, "same filesystem");
  // A workdir holding someone else's files.
  LayerBuilder(dir_ / "full").File("precious");
  ExpectRefused({"-o", lower_ + up + ",workdir=" + (dir_ / "full"), mnt_}, "not empty");
  EXPECT_EQ(::access((dir_ / "full/precious").c_str(), F_OK), 0) << "nothing was deleted";
  // Symlinks planted where the workdir's own directories go are never followed.
  for (const char* own : {"work", "strata-index"}) {
    const std::string w = dir_ / ("planted-" + std::string(own));
    ::mkdir(w.c_str(), 0755);
    ::mkdir((dir_ / "target").c_str(), 0755);
    ASSERT_EQ(::symlink((dir_ / "target").c_str(), (w + "/" + own).c_str()), 0);
    ExpectRefused({"-o", lower_ + up + ",workdir=" + w, mnt_}, own);
    EXPECT_TRUE(std::filesystem::is_empty(dir_ / "target")) << "nothing written through " << own;
  }
  // An upper filesystem without xattrs cannot hold whiteouts' markers.
  const std::string ram = dir_ / "ram";
  ::mkdir(ram.c_str(), 0755);
  ASSERT_EQ(::mount("ramfs", ram.c_str(), "ramfs", 0, nullptr), 0);
  ::mkdir((ram + "/u").c_str(), 0755);
  ::mkdir((ram + "/w").c_str(), 0755);
  ExpectRefused({"-o", lower_ + ",upperdir=" + ram + "/u,workdir=" + ram + "/w", mnt_},
                "extended attributes");
  Unmount(ram);
  // One workdir, one mount.
  const std::string mnt2 = dir_ / "mnt2";
  ::mkdir(mnt2.c_str(), 0755);
  StrataMount first({"-o", lower_ + up + ",workdir=" + (dir_ / "w")}, mnt2);
  ASSERT_TRUE(first.ok()) << first.error();
  ExpectRefused({"-o", lower_ + ",upperdir=" + (dir_ / "w2") + ",workdir=" + (dir_ / "w"), mnt_},
                "in use");
}

TEST_F(MountCliTest, IdMappingAndSquashOptionsApply) {
  for (const char* d : {"u", "w"}) ::mkdir((dir_ / d).c_str(), 0755);
  ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);  // uid 1000 must reach the mount
  {
    StrataMount m({"-o", lower_ + ",upperdir=" + (dir_ / "u") + ",workdir=" + (dir_ / "w") +
                             ",uidmapping=0:1000:100,gidmapping=0:2000:100"},
                  mnt_);
    ASSERT_TRUE(m.ok()) << m.error();
    struct stat st;
    ASSERT_EQ(::stat((mnt_ + "/hello").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 1000u);
    EXPECT_EQ(st.st_gid, 2000u);
    // A caller shown as 1000:2000 is stored as the layers' 0:0.
    CommandResult r = RunCommand({"/usr/bin/setpriv", "--reuid", "1000", "--regid", "2000",
                                  "--clear-groups", "/usr/bin/touch", mnt_ + "/made"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(::stat((mnt_ + "/made").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 1000u);
    ASSERT_EQ(::stat((dir_ / "u/made").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_gid, 0u);
    EXPECT_EQ(m.Stop(), 0);
  }
  StrataMount squashed({"-o", lower_ + ",squash_to_uid=7,squash_to_gid=8"}, mnt_);
  ASSERT_TRUE(squashed.ok()) << squashed.error();
  struct stat st;
  ASSERT_EQ(::stat((mnt_ + "/hello").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 7u);
  EXPECT_EQ(st.st_gid, 8u);
}

TEST_F(MountCliTest, NoxattrsAndFuseOverlayfsColonEscapes) {
  // A layer whose path holds a colon, spelled as fuse-overlayfs 1.16 reads it ("\\:").
  LayerBuilder(dir_ / "lower:1").File("colon", "c").Xattr("colon", "user.k", "v");
  std::string spelled = dir_ / "lower";
  spelled += "\\\\:1";
  StrataMount m({"-o", "lowerdir=" + spelled + ",noxattrs=1"}, mnt_);
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_EQ(::access((mnt_ + "/colon").c_str(), F_OK), 0);
  char value[8];
  EXPECT_EQ(::getxattr((mnt_ + "/colon").c_str(), "user.k", value, sizeof value), -1);
  EXPECT_EQ(errno, ENOTSUP);
  EXPECT_EQ(::listxattr((mnt_ + "/colon").c_str(), value, sizeof value), -1);
  EXPECT_EQ(errno, ENOTSUP);
  EXPECT_EQ(m.Stop(), 0) << m.Stderr();
}

TEST_F(MountCliTest, MountTypeFuseStratafsThroughMountFuse3) {
  // containerd-style: mount(8) runs mount.fuse3, which runs `stratafs overlay MNT -o ...` from
  // a sanitized PATH that includes /usr/local/bin (where `cmake --install` puts stratafs).
  const std::string link = "/usr/local/bin/stratafs";
  struct stat st;
  if (::lstat(link.c_str(), &st) == 0) GTEST_SKIP() << link << " exists: not replacing it";
  if (::access("/usr/sbin/mount.fuse3", X_OK) != 0) GTEST_SKIP() << "needs mount.fuse3 (fuse3)";
  ASSERT_EQ(::symlink(STRATAFS_PATH, link.c_str()), 0) << std::strerror(errno);
  struct RemoveLink {
    std::string path;
    ~RemoveLink() { ::unlink(path.c_str()); }
  } remove_link{link};
  for (const char* d : {"u", "w"}) ::mkdir((dir_ / d).c_str(), 0755);
  CommandResult r =
      RunCommand({"/usr/bin/mount", "-t", "fuse.stratafs", "overlay", mnt_, "-o",
                  lower_ + ",upperdir=" + (dir_ / "u") + ",workdir=" + (dir_ / "w") + ",dev,suid"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(IsMountPoint(mnt_));
  {
    std::ofstream out(mnt_ + "/written");
    out << "via mount -t\n";
  }
  EXPECT_EQ(::access((dir_ / "u/written").c_str(), F_OK), 0);
  EXPECT_TRUE(Unmount(mnt_));
  EXPECT_TRUE(WaitForMount(mnt_, /*mounted=*/false, 5000));
}

TEST_F(MountCliTest, UnreadableLowerdirIsRefused) {
  // As an unprivileged user, a layer it cannot read must be an error, not an empty layer.
  if (::access("/usr/sbin/runuser", X_OK) != 0) GTEST_SKIP() << "needs runuser (util-linux)";
  TempDir open_dir("/tmp");  // /tmp is traversable by nobody; the build tree may not be
  ASSERT_EQ(::chmod(open_dir.path().c_str(), 0755), 0);
  LayerBuilder(open_dir / "readable").File("f");
  LayerBuilder(open_dir / "secret").File("g");
  ASSERT_EQ(::chmod((open_dir / "secret").c_str(), 0700), 0);
  ::mkdir((open_dir / "mnt").c_str(), 0777);
  // A copy of the binary nobody can execute, wherever the build tree is.
  std::filesystem::copy_file(STRATAFS_PATH, open_dir / "stratafs");
  ASSERT_EQ(::chmod((open_dir / "stratafs").c_str(), 0755), 0);
  CommandResult r = RunCommand(
      {"/usr/sbin/runuser", "-u", "nobody", "--", open_dir / "stratafs", "-o",
       "lowerdir=" + (open_dir / "readable") + ":" + (open_dir / "secret"), open_dir / "mnt"},
      20000);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(open_dir / "secret"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
  EXPECT_FALSE(IsMountPoint(open_dir / "mnt"));
}

// A mount made by root is open to other users (allow_other: a container's processes run as
// many users), but the kernel checks each access against the layer's owners and modes
// (default_permissions): what the layer denies a user, the mount denies too.
TEST_F(MountCliTest, OtherUsersGetWhatTheLayersPermissionsAllowThemAndNoMore) {
  if (::access("/usr/sbin/runuser", X_OK) != 0) GTEST_SKIP() << "needs runuser (util-linux)";
  TempDir open_dir("/tmp");
  ASSERT_EQ(::chmod(open_dir.path().c_str(), 0755), 0);
  LayerBuilder(open_dir / "l")
      .File("public", "for all\n", 0644)
      .File("secret", "root only\n", 0600)
      .File("private/inner", "in a closed directory\n", 0644);
  ASSERT_EQ(::chmod((open_dir / "l/private").c_str(), 0700), 0);
  for (const char* d : {"u", "w", "mnt"}) ::mkdir((open_dir / d).c_str(), 0755);
  StrataMount m({"-o", "lowerdir=" + (open_dir / "l") + ",upperdir=" + (open_dir / "u") +
                           ",workdir=" + (open_dir / "w")},
                open_dir / "mnt");
  ASSERT_TRUE(m.ok()) << m.error();
  auto as_nobody = [&](const std::string& script) {
    return RunCommand({"/usr/sbin/runuser", "-u", "nobody", "--", "/bin/sh", "-c", script});
  };
  const std::string mnt = open_dir / "mnt";
  EXPECT_EQ(as_nobody("cat " + mnt + "/public").out, "for all\n");
  const CommandResult secret = as_nobody("cat " + mnt + "/secret");
  EXPECT_NE(secret.exit_code, 0);
  EXPECT_NE(secret.err.find("Permission denied"), std::string::npos) << secret.err;
  EXPECT_NE(as_nobody("cat " + mnt + "/private/inner").exit_code, 0);
  EXPECT_NE(as_nobody("ls " + mnt + "/private").exit_code, 0);
  EXPECT_NE(as_nobody("echo x >> " + mnt + "/public").exit_code, 0) << "0644 root's";
  EXPECT_NE(as_nobody("touch " + mnt + "/new").exit_code, 0) << "a root 0755 directory";
  EXPECT_NE(as_nobody("chmod 0666 " + mnt + "/secret").exit_code, 0);
  EXPECT_EQ(ReadPath(mnt + "/secret"), "root only\n") << "root reads it";
  EXPECT_EQ(m.Stop(), 0) << m.Stderr();
  EXPECT_EQ(::access((open_dir / "u/public").c_str(), F_OK), -1) << "no denied write copied up";
  EXPECT_EQ(::access((open_dir / "u/secret").c_str(), F_OK), -1);
}

TEST_F(MountCliTest, RefusesABusyMountpoint) {
  StrataMount first({"-o", lower_}, mnt_);
  ASSERT_TRUE(first.ok()) << first.error();
  CommandResult r = Run({"-o", lower_, mnt_});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("busy"), std::string::npos) << r.err;
  EXPECT_EQ(DaemonsFor(mnt_).size(), 1u) << "only the first daemon runs";
  EXPECT_EQ(first.Stop(), 0);
}

TEST_F(MountCliTest, SigtermUnmountsAndExitsZero) {
  StrataMount m({"-o", lower_}, mnt_);
  ASSERT_TRUE(m.ok()) << m.error();
  ASSERT_EQ(::kill(m.pid(), SIGTERM), 0);
  EXPECT_TRUE(WaitForMount(mnt_, /*mounted=*/false, 10000)) << "SIGTERM must unmount";
  EXPECT_EQ(m.Stop(), 0) << m.Stderr();
}

TEST_F(MountCliTest, ManyLayers) {
  std::vector<std::string> layers;
  for (int i = 0; i < 128; ++i) {
    LayerBuilder b(dir_ / ("m" + std::to_string(i)));
    b.File("shared/from" + std::to_string(i), std::to_string(i));
    b.File("top", std::to_string(i));
    layers.insert(layers.begin(), b.root());
  }
  StrataMount m({"-o", LowerdirOption(layers)}, mnt_);
  ASSERT_TRUE(m.ok()) << m.error();
  int count = 0;
  DIR* d = ::opendir((mnt_ + "/shared").c_str());
  ASSERT_NE(d, nullptr);
  while (struct dirent* de = ::readdir(d)) count += de->d_name[0] != '.';
  ::closedir(d);
  EXPECT_EQ(count, 128);
  std::ifstream top(mnt_ + "/top");
  std::string v;
  top >> v;
  EXPECT_EQ(v, "127") << "the leftmost layer wins";
  top.close();
  EXPECT_EQ(m.Stop(), 0) << m.Stderr();
}

}  // namespace
}  // namespace strata::testing
