// strata-snapshotter under Debian's containerd (1.6), started by the test with a private root,
// state directory and socket and the snapshotter configured as a proxy plugin; everything
// stopped by pid afterwards (containerd, the snapshotter, and the shims of containers left
// behind by a failure, found through their pid files in our state directory).
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <thread>

#include "fs/base/mount_table.h"
#include "github.com/containerd/containerd/api/services/snapshots/v1/snapshots.grpc.pb.h"
#include "tests/support/file_data.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"

namespace strata::testing {
namespace {

constexpr const char* kContainerd = "/usr/bin/containerd";
constexpr const char* kCtr = "/usr/bin/ctr";

// A child process started with ARGV (and PATH=BIN_DIR:$PATH), stopped by pid.
class Daemon {
 public:
  Daemon(const std::vector<std::string>& argv, const std::string& bin_dir, const std::string& log) {
    pid_ = ::fork();
    if (pid_ == 0) {
      const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      ::setenv("PATH", (bin_dir + ":" + std::getenv("PATH")).c_str(), 1);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Daemon() { Stop(SIGTERM); }
  pid_t pid() const { return pid_; }
  bool Running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }
  // Sends SIG and reaps (SIGKILL after 10 s). Returns the exit status (-1 if killed).
  int Stop(int sig) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    int status = 0;
    for (int i = 0; i < 200; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    return -1;
  }

 private:
  pid_t pid_ = -1;
};

// Until something accepts connections on unix socket PATH (a stale socket file of a killed
// daemon refuses them).
bool WaitForSocket(const std::string& path) {
  for (int i = 0; i < 200; ++i) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

class ContainerdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    for (const char* tool :
         {kContainerd, kCtr, "/usr/sbin/runc", "/usr/sbin/mount.fuse3", "/usr/bin/umoci"}) {
      if (::access(tool, X_OK) != 0) GTEST_SKIP() << tool << " is not installed";
    }
    // containerd mounts stacked snapshots with mount.fuse3, which runs stratafs from PATH.
    ::mkdir((dir_ / "bin").c_str(), 0755);
    ASSERT_EQ(::symlink(STRATAFS_PATH, (dir_ / "bin/stratafs").c_str()), 0);
    std::ofstream(dir_ / "config.toml")
        << "version = 2\nroot = \"" << (dir_ / "root") << "\"\nstate = \"" << (dir_ / "state")
        << "\"\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \""
        << (dir_ / "containerd.sock") << "\"\n[proxy_plugins]\n  [proxy_plugins.strata]\n"
        << "    type = \"snapshot\"\n    address = \"" << (dir_ / "snap.sock") << "\"\n";
    Sh(R"(umoci init --layout img
umoci new --image img:1
umoci unpack --image img:1 b >/dev/null
r=b/rootfs
mkdir -p $r/bin $r/etc $r/srv
cp /bin/busybox $r/bin/busybox && ln -s busybox $r/bin/sh
echo hello > $r/etc/motd && echo a > $r/srv/a && echo b > $r/srv/b
umoci repack --image img:1 b
rm -rf b
umoci unpack --image img:1 b >/dev/null
echo second > b/rootfs/etc/second
umoci repack --image img:1 b
rm -rf b)");
    ASSERT_EQ(Strata({"import", "oci:" + (dir_ / "img") + ":1", "--name", "app:1"}).exit_code, 0);
    StartSnapshotter();
    containerd_ = std::make_unique<Daemon>(
        std::vector<std::string>{kContainerd, "--config", dir_ / "config.toml"}, dir_ / "bin",
        dir_ / "containerd.log");
    ASSERT_TRUE(WaitForSocket(dir_ / "containerd.sock")) << ReadPath(dir_ / "containerd.log");
  }
  void TearDown() override {
    // Tasks a failed test left: their shims, by the pid files in our state directory.
    if (containerd_) {
      Ctr({"tasks", "kill", "-s", "SIGKILL", "t1"});
      Ctr({"tasks", "kill", "-s", "SIGKILL", "t2"});
    }
    CommandResult shims = RunCommand(
        {"/bin/sh", "-c",
         "cat " + (dir_ / "state") + "/io.containerd.runtime.v2.task/*/*/shim.pid 2>/dev/null"});
    containerd_.reset();
    for (size_t p = 0; p < shims.out.size();) {
      const size_t end = std::min(shims.out.find('\n', p), shims.out.size());
      const std::string pid = shims.out.substr(p, end - p);
      if (!pid.empty()) ::kill(std::stoi(pid), SIGKILL);
      p = end + 1;
    }
    snapshotter_.reset();
    const std::vector<std::string> left = MountPointsUnder(dir_.path());
    for (auto it = left.rbegin(); it != left.rend(); ++it) Unmount(*it);
  }
  void StartSnapshotter() {
    snapshotter_ = std::make_unique<Daemon>(
        std::vector<std::string>{STRATA_SNAPSHOTTER_PATH, "--address", dir_ / "snap.sock",
                                 "--store", dir_ / "store"},
        dir_ / "bin", dir_ / "snapshotter.log");
    ASSERT_TRUE(WaitForSocket(dir_ / "snap.sock")) << ReadPath(dir_ / "snapshotter.log");
  }
  void Sh(const std::string& script) {
    CommandResult r = RunCommand({"/bin/sh", "-ec", "cd " + dir_.path() + "\n" + script}, 120000);
    ASSERT_EQ(r.exit_code, 0) << script << "\n" << r.out << r.err;
  }
  CommandResult Strata(std::vector<std::string> args) {
    args.insert(args.begin(), {STRATA_PATH, "--root", dir_ / "store"});
    return RunCommand(args, 120000);
  }
  CommandResult Ctr(std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/env",
                                     "PATH=" + (dir_ / "bin") + ":" + std::getenv("PATH"), kCtr,
                                     "--address", dir_ / "containerd.sock"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, 120000);
  }
  CommandResult Snapshots(std::vector<std::string> args) {
    args.insert(args.begin(), {"snapshots", "--snapshotter", "strata"});
    return Ctr(args);
  }
  // How many snapshots the snapshotter unpacked into directories of its own.
  int OwnDirectories() {
    CommandResult r =
        RunCommand({"/bin/sh", "-c", "ls " + (dir_ / "store/snapshotter/snapshots") + " | wc -l"});
    return std::stoi(r.out);
  }
  TempDir dir_;
  std::unique_ptr<Daemon> snapshotter_, containerd_;
};

TEST_F(ContainerdTest, ContainersRunOnStratafsAndChangeOnlyTheirLayer) {
  ASSERT_EQ(
      Strata({"save", "app:1", "--format", "docker-archive", "-o", dir_ / "app.tar"}).exit_code, 0);
  CommandResult imported = Ctr({"images", "import", "--snapshotter", "strata", dir_ / "app.tar"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err << ReadPath(dir_ / "snapshotter.log");
  CommandResult run =
      Ctr({"run", "--snapshotter", "strata", "--rm", "localhost/app:1", "t1", "sh", "-c",
           "grep ' / / ' /proc/self/mountinfo | sed 's/.* - //; s/ .*//'; "
           "cat /etc/motd /etc/second; echo new > /etc/new; rm /srv/a; "
           "mv /srv/b /srv/c; ls /srv; cat /etc/new"});
  ASSERT_EQ(run.exit_code, 0) << run.err << ReadPath(dir_ / "containerd.log");
  EXPECT_EQ(run.out, "fuse.stratafs\nhello\nsecond\nc\nnew\n") << "the rootfs is stratafs";
  // A second container starts from the image, not from the first one's changes.
  CommandResult again = Ctr({"run", "--snapshotter", "strata", "--rm", "localhost/app:1", "t2",
                             "sh", "-c", "ls /srv; test ! -e /etc/new && echo clean"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, "a\nb\nclean\n");
}

TEST_F(ContainerdTest, SnapshotCommandsHaveContainerdsSemantics) {
  ASSERT_EQ(Snapshots({"prepare", "base-active"}).exit_code, 0);
  CommandResult mounts = Snapshots({"mounts", dir_ / "m", "base-active"});
  ASSERT_EQ(mounts.exit_code, 0) << mounts.err;
  EXPECT_NE(mounts.out.find("bind"), std::string::npos) << mounts.out;
  const std::string base_fs = dir_ / "store/snapshotter/snapshots/1/fs";
  std::ofstream(base_fs + "/file") << "in base\n";
  ASSERT_EQ(Snapshots({"commit", "base", "base-active"}).exit_code, 0);
  CommandResult dup = Snapshots({"prepare", "c1", "base"});
  ASSERT_EQ(dup.exit_code, 0) << dup.err;
  CommandResult exists = Snapshots({"prepare", "c1", "base"});
  EXPECT_NE(exists.exit_code, 0);
  EXPECT_NE(exists.err.find("already exists"), std::string::npos) << exists.err;
  CommandResult missing = Snapshots({"prepare", "c2", "nope"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("not found"), std::string::npos) << missing.err;

  // The stacked snapshot, mounted as containerd prints it: stratafs over the committed one.
  ::mkdir((dir_ / "m").c_str(), 0755);
  CommandResult c1 = Snapshots({"mounts", dir_ / "m", "c1"});
  ASSERT_EQ(c1.exit_code, 0) << c1.err;
  EXPECT_NE(c1.out.find("fuse3.stratafs"), std::string::npos) << c1.out;
  // Mounted as containerd does it (mount.fuse3 runs stratafs -o OPTIONS overlay TARGET).
  const size_t o = c1.out.find(" -o ");
  ASSERT_NE(o, std::string::npos) << c1.out;
  const std::string options = c1.out.substr(o + 4, c1.out.find_first_of(" \n", o + 4) - o - 4);
  StrataMount mounted({"-o", options}, dir_ / "m");
  ASSERT_TRUE(mounted.ok()) << mounted.error();
  EXPECT_EQ(ReadPath(dir_ / "m/file"), "in base\n");
  std::ofstream(dir_ / "m/mine") << "c1's\n";
  EXPECT_EQ(mounted.Stop(), 0) << mounted.Stderr();
  EXPECT_EQ(ReadPath(dir_ / "store/snapshotter/snapshots/2/fs/mine"), "c1's\n")
      << "changes land in c1's own layer";

  ASSERT_EQ(Snapshots({"view", "v1", "base"}).exit_code, 0);
  CommandResult busy = Snapshots({"rm", "base"});
  EXPECT_NE(busy.exit_code, 0) << "it has children";
  CommandResult usage = Snapshots({"usage", "c1"});
  ASSERT_EQ(usage.exit_code, 0) << usage.err;
  EXPECT_NE(usage.out.find("c1"), std::string::npos) << usage.out;
  ASSERT_EQ(Snapshots({"label", "c1", "team=web"}).exit_code, 0);
  CommandResult info = Snapshots({"info", "c1"});
  EXPECT_NE(info.out.find("\"team\": \"web\""), std::string::npos) << info.out;
  CommandResult list = Snapshots({"ls"});
  for (const char* key : {"base", "c1", "v1"}) {
    EXPECT_NE(list.out.find(key), std::string::npos) << list.out;
  }

  // Killed and restarted in the middle: the same snapshots, and work goes on.
  snapshotter_->Stop(SIGKILL);
  StartSnapshotter();
  // containerd reconnects to its proxy plugin with gRPC's backoff: the first calls may fail.
  CommandResult after;
  for (int i = 0; i < 60; ++i) {
    after = Snapshots({"ls"});
    if (after.exit_code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(after.out, list.out);
  ASSERT_EQ(Snapshots({"commit", "c1-done", "c1"}).exit_code, 0);
  ASSERT_EQ(Snapshots({"rm", "v1"}).exit_code, 0);
  ASSERT_EQ(Snapshots({"rm", "c1-done"}).exit_code, 0);
  ASSERT_EQ(Snapshots({"rm", "base"}).exit_code, 0);
  // containerd removes them from the snapshotter when its gc runs: a lease deleted with
  // --sync runs it now.
  ASSERT_EQ(Ctr({"leases", "create", "--id", "gc"}).exit_code, 0);
  ASSERT_EQ(Ctr({"leases", "delete", "--sync", "gc"}).exit_code, 0);
  EXPECT_EQ(OwnDirectories(), 0) << "every snapshot directory removed with its snapshot\n"
                                 << ReadPath(dir_ / "snapshotter.log");
  EXPECT_EQ(Snapshots({"ls"}).out.find("c1"), std::string::npos);
  EXPECT_EQ(snapshotter_->Stop(SIGTERM), 0) << "SIGTERM is a clean stop";
}

// A container's changes committed as a snapshot (`ctr snapshots commit` of the container's
// active snapshot), a new snapshot prepared on it, mounted as containerd prints the mounts, and
// a second container run on that root (`ctr run --rootfs`): it sees the first one's changes.
// `strata df` and `strata verify` see the snapshotter's snapshots beside the store, and verify
// reports a snapshot whose layer went missing.
TEST_F(ContainerdTest, ContainersRunFromACommittedSnapshotAndStrataSeesTheSnapshots) {
  ASSERT_EQ(
      Strata({"save", "app:1", "--format", "docker-archive", "-o", dir_ / "app.tar"}).exit_code, 0);
  ASSERT_EQ(Ctr({"images", "import", "--snapshotter", "strata", dir_ / "app.tar"}).exit_code, 0);
  CommandResult first = Ctr({"run", "--snapshotter", "strata", "localhost/app:1", "t1", "sh", "-c",
                             "echo changed > /etc/motd; mkdir /srv/new; rm /srv/a"});
  ASSERT_EQ(first.exit_code, 0) << first.err << ReadPath(dir_ / "containerd.log");
  ASSERT_EQ(Snapshots({"commit", "t1-changes", "t1"}).exit_code, 0);
  ASSERT_EQ(Snapshots({"prepare", "t2-root", "t1-changes"}).exit_code, 0);
  const std::string rootfs = dir_ / "t2-rootfs";
  ::mkdir(rootfs.c_str(), 0755);
  CommandResult mounts = Snapshots({"mounts", rootfs, "t2-root"});
  ASSERT_EQ(mounts.exit_code, 0) << mounts.err;
  ASSERT_NE(mounts.out.find("fuse3.stratafs"), std::string::npos) << mounts.out;
  // Mounted as containerd mounts a fuse3.* type: mount.fuse3 SOURCE TARGET -t SUBTYPE -o OPTS.
  const size_t o = mounts.out.find(" -o ");
  ASSERT_NE(o, std::string::npos) << mounts.out;
  const std::string options =
      mounts.out.substr(o + 4, mounts.out.find_first_of(" \n", o + 4) - o - 4);
  CommandResult mounted =
      RunCommand({"/usr/bin/env", "PATH=" + (dir_ / "bin") + ":" + std::getenv("PATH"),
                  "/sbin/mount.fuse3", "overlay", rootfs, "-t", "stratafs", "-o", options});
  ASSERT_EQ(mounted.exit_code, 0) << mounts.out << mounted.err;
  CommandResult second = Ctr({"run", "--rm", "--rootfs", rootfs, "t2", "/bin/sh", "-c",
                              "cat /etc/motd /etc/second; ls /srv; echo t2 > /srv/t2"});
  EXPECT_EQ(second.exit_code, 0) << second.err << ReadPath(dir_ / "containerd.log");
  EXPECT_EQ(second.out, "changed\nsecond\nb\nnew\n") << "the first container's changes";
  EXPECT_TRUE(Unmount(rootfs));
  EXPECT_NE(ReadPath(dir_ / "store/snapshotter/metadata.json").find("t2-root"), std::string::npos)
      << "recorded by the snapshotter";

  CommandResult df = Strata({"df"});
  ASSERT_EQ(df.exit_code, 0) << df.err;
  EXPECT_NE(
      df.out.find("containerd snapshots (strata-snapshotter, " + (dir_ / "store/snapshotter") +
                  "): 3 committed (0 of them this store's "
                  "layers, not unpacked again), 1 active, 0 views"),
      std::string::npos)
      << df.out;
  CommandResult verified = Strata({"verify"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  EXPECT_NE(verified.out.find(", 4 containerd snapshots: ok"), std::string::npos) << verified.out;

  // The committed layer of t1's changes goes missing: verify names the snapshot.
  CommandResult dir = RunCommand({"/bin/sh", "-c",
                                  "grep -l changed " + (dir_ / "store/snapshotter/snapshots") +
                                      "/*/fs/etc/motd | sed 's|/fs/etc/motd$||'"});
  ASSERT_EQ(dir.exit_code, 0);
  ASSERT_FALSE(dir.out.empty()) << "t1's layer holds its changes";
  ASSERT_EQ(RunCommand({"/bin/rm", "-rf", dir.out.substr(0, dir.out.find('\n')) + "/fs"}).exit_code,
            0);
  CommandResult broken = Strata({"verify"});
  EXPECT_EQ(broken.exit_code, 1) << broken.out;
  EXPECT_NE(broken.err.find("t1-changes"), std::string::npos) << broken.err;
  EXPECT_NE(broken.out.find("CORRUPT"), std::string::npos) << broken.out;
  Ctr({"containers", "rm", "t1"});
}

// An image the strata store holds, unpacked by containerd the way its client's unpacker does
// it (for each layer, Prepare through containerd with the label containerd.io/snapshot.ref =
// the layer's chainID; `ctr` itself unpacks without it, the CRI plugin with it): containerd's
// metadata layer gets ALREADY_EXISTS from the snapshotter, finds the committed snapshot it
// registered on the store's layer, and nothing is unpacked; containers run on the store's
// layers, which strata keeps while containerd uses them.
TEST_F(ContainerdTest, LayersTheStoreHasAreNotUnpackedAgain) {
  ASSERT_EQ(
      Strata({"save", "app:1", "--format", "docker-archive", "-o", dir_ / "app.tar"}).exit_code, 0);
  CommandResult imported = Ctr({"images", "import", "--no-unpack", dir_ / "app.tar"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  CommandResult inspect = Strata({"inspect", "app:1"});
  std::vector<std::string> chain;
  for (size_t at = inspect.out.find("\"chain_id\": \""); at != std::string::npos;
       at = inspect.out.find("\"chain_id\": \"", at + 1)) {
    chain.push_back(inspect.out.substr(at + 13, 71));
  }
  ASSERT_EQ(chain.size(), 2u) << inspect.out;

  // Within a lease, as the client's unpacker works: containerd's gc must not collect the
  // snapshots before the image's config references the top one.
  ASSERT_EQ(Ctr({"leases", "create", "--id", "unpack"}).exit_code, 0);
  namespace v1 = ::containerd::services::snapshots::v1;
  auto stub = v1::Snapshots::NewStub(grpc::CreateChannel("unix:" + (dir_ / "containerd.sock"),
                                                         grpc::InsecureChannelCredentials()));
  for (size_t i = 0; i < chain.size(); ++i) {
    SCOPED_TRACE(chain[i]);
    grpc::ClientContext ctx;
    ctx.AddMetadata("containerd-namespace", "default");
    ctx.AddMetadata("containerd-lease", "unpack");
    v1::PrepareSnapshotRequest req;
    req.set_snapshotter("strata");
    req.set_key("extract-" + std::to_string(i) + " " + chain[i]);
    req.set_parent(i == 0 ? "" : chain[i - 1]);
    (*req.mutable_labels())["containerd.io/snapshot.ref"] = chain[i];
    v1::PrepareSnapshotResponse resp;
    const grpc::Status st = stub->Prepare(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::ALREADY_EXISTS)
        << st.error_message() << "\n"
        << ReadPath(dir_ / "snapshotter.log");
  }
  EXPECT_EQ(OwnDirectories(), 0) << "no layer unpacked into the snapshotter";
  CommandResult listed = Snapshots({"ls"});
  EXPECT_NE(listed.out.find(chain[1]), std::string::npos)
      << "containerd knows the chain\n"
      << listed.out << listed.err << ReadPath(dir_ / "snapshotter.log")
      << ReadPath(dir_ / "containerd.log");
  const std::string metadata = ReadPath(dir_ / "store/snapshotter/metadata.json");
  EXPECT_NE(metadata.find("\"external\": \"" + (dir_ / "store/layers/")), std::string::npos)
      << metadata;
  CommandResult df = Strata({"df"});
  EXPECT_NE(df.out.find("2 committed (2 of them this store's layers, not unpacked again)"),
            std::string::npos)
      << df.out;
  CommandResult verified = Strata({"verify"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
  // As the unpacker finishes: the image's config keeps the top snapshot from containerd's gc.
  const std::string image_config = Strata({"inspect", "app:1"}).out;
  const size_t id_at = image_config.find("\"id\": \"");
  ASSERT_NE(id_at, std::string::npos);
  ASSERT_EQ(Ctr({"content", "label", image_config.substr(id_at + 7, 71),
                 "containerd.io/gc.ref.snapshot.strata=" + chain[1]})
                .exit_code,
            0);
  ASSERT_EQ(Ctr({"leases", "delete", "unpack"}).exit_code, 0);

  CommandResult run = Ctr({"run", "--snapshotter", "strata", "--rm", "localhost/app:1", "t1", "sh",
                           "-c", "cat /etc/motd /etc/second; echo x > /etc/motd"});
  ASSERT_EQ(run.exit_code, 0) << run.err << ReadPath(dir_ / "containerd.log");
  EXPECT_EQ(run.out, "hello\nsecond\n");

  // strata keeps the layers containerd uses, even when the image goes from its store.
  ASSERT_EQ(Strata({"rm", "app:1"}).exit_code, 0);
  ASSERT_EQ(Strata({"prune"}).exit_code, 0);
  CommandResult layers =
      RunCommand({"/bin/sh", "-c", "ls " + (dir_ / "store/layers") + " | wc -l"});
  EXPECT_EQ(layers.out, "2\n") << "both layers held";
  CommandResult run2 = Ctr({"run", "--snapshotter", "strata", "--rm", "localhost/app:1", "t2",
                            "busybox", "cat", "/etc/motd"});
  ASSERT_EQ(run2.exit_code, 0) << run2.err;
  EXPECT_EQ(run2.out, "hello\n");
}

}  // namespace
}  // namespace strata::testing
