// Power loss, simulated exactly: the upper layer lives on an ext4 filesystem on a loop device
// whose dirty data the kernel is told not to write back by itself (no periodic writeback, a
// one-hour journal commit interval), so the only writes that reach the device are those a
// caller forced (fsync, fdatasync, syncfs) and the journal commits they need. A program
// changes files through a stratafs mount (copy-up appends, new files in new directories,
// renames and unlinks of lower files, chmods, hard links to lower files, overwrites with
// O_TRUNC, xattrs, renames of lower directories), fsyncing each change and reporting it once
// the fsync returned. At several moments the daemon is stopped (SIGSTOP, every thread seen
// stopped, so no write is in flight; the program waits for it) and the device's content is
// copied:
// that copy is what the disk would hold after a power loss then. Each copy is then mounted
// (the journal replayed) and the union on it checked: every change reported as fsynced is
// there, and every other one is whole or absent (no partial copy-up, no name both renamed and
// not, no truncated file), with no stray names.
//
// The same for the image store: `strata import` stopped and the device copied at moments of
// its run (StorePowerLossTest).
//
// What this does not explore: reorderings of writes the device was given but had not
// completed (dm-flakey or an ALICE-style replay would; this kernel has neither
// device-mapper nor nbd); the device here completes writes in order.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "tests/support/file_data.h"
#include "tests/support/layer_builder.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/process_stats.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tree_dump.h"

namespace strata::testing {
namespace {

constexpr int kRounds = 30;

// An ext4 image mounted through a loop device at MOUNTPOINT (the loop device goes with the
// unmount: mount(8) sets it to clear itself).
class LoopExt4 {
 public:
  LoopExt4(std::string image, std::string mountpoint, bool format)
      : mountpoint_(std::move(mountpoint)) {
    ::mkdir(mountpoint_.c_str(), 0755);
    if (format) {
      const CommandResult mk = RunCommand({"/sbin/mkfs.ext4", "-q", "-F", "-E",
                                           "lazy_itable_init=0,lazy_journal_init=0", image, "64M"});
      if (mk.exit_code != 0) {
        error_ = "mkfs.ext4: " + mk.err;
        return;
      }
    }
    const CommandResult m =
        RunCommand({"/bin/mount", "-o", "loop,noatime,commit=3600", image, mountpoint_});
    ok_ = m.exit_code == 0;
    if (!ok_) error_ = "mount " + image + ": " + m.err;
  }
  ~LoopExt4() {
    if (ok_) Unmount(mountpoint_);
  }
  LoopExt4(const LoopExt4&) = delete;
  LoopExt4& operator=(const LoopExt4&) = delete;
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

 private:
  std::string mountpoint_;
  bool ok_ = false;
  std::string error_;
};

// Stops PID with SIGSTOP and waits until every thread of it is stopped (a thread inside a
// system call stops when it returns from it, so no write of its is in flight after this).
// Only the daemon (or strata) is stopped this way: a caller waiting for the daemon in a FUSE
// request cannot stop (the wait is killable, not interruptible), and its writes all go through
// the daemon anyway.
bool StopEveryThread(pid_t pid) {
  ::kill(pid, SIGSTOP);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const std::string states = ThreadStates(pid);
    if (states.find_first_not_of("TtZX") == std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

std::string Lower(int i) { return "lower " + std::to_string(i) + "\n" + std::string(6000, 'l'); }

// The program: each change of round I, fsynced, then reported on fd ACKS as "KIND I".
void Program(const std::string& mnt, int acks) {
  auto ack = [&](const char* kind, int i) {
    const std::string line = std::string(kind) + " " + std::to_string(i) + "\n";
    (void)!::write(acks, line.data(), line.size());
  };
  const int root = ::open(mnt.c_str(), O_RDONLY | O_DIRECTORY);
  for (int i = 0; i < kRounds; ++i) {
    const std::string n = std::to_string(i);
    // A copy-up: append to a lower file.
    int fd = ::open((mnt + "/f" + n).c_str(), O_WRONLY | O_APPEND);
    if (fd >= 0 && ::write(fd, "+tail", 5) == 5 && ::fsync(fd) == 0) ack("f", i);
    ::close(fd);
    // A new file in a new directory, both made durable the POSIX way.
    if (::mkdir((mnt + "/d" + n).c_str(), 0755) == 0) {
      fd = ::open((mnt + "/d" + n + "/new").c_str(), O_WRONLY | O_CREAT, 0644);
      const int dir = ::open((mnt + "/d" + n).c_str(), O_RDONLY | O_DIRECTORY);
      if (fd >= 0 && ::write(fd, "new", 3) == 3 && ::fsync(fd) == 0 && ::fsync(dir) == 0 &&
          ::fsync(root) == 0) {
        ack("n", i);
      }
      ::close(fd);
      ::close(dir);
    }
    // A rename and an unlink of lower files, made durable by fsyncing their directory.
    if (::rename((mnt + "/r" + n).c_str(), (mnt + "/m" + n).c_str()) == 0 && ::fsync(root) == 0) {
      ack("r", i);
    }
    if (::unlink((mnt + "/u" + n).c_str()) == 0 && ::fsync(root) == 0) ack("u", i);
    // A chmod of a lower file (a copy-up of its metadata and data), then fsync.
    if (::chmod((mnt + "/c" + n).c_str(), 0600) == 0) {
      fd = ::open((mnt + "/c" + n).c_str(), O_RDONLY);
      if (fd >= 0 && ::fsync(fd) == 0) ack("c", i);
      ::close(fd);
    }
    // A new hard link to a lower file (its copy-up into the index), its directory synced.
    if (::link((mnt + "/k" + n).c_str(), (mnt + "/k" + n + ".link").c_str()) == 0 &&
        ::fsync(root) == 0) {
      ack("k", i);
    }
    // A lower file overwritten (open with O_TRUNC: a copy-up of nothing), then fsync.
    fd = ::open((mnt + "/t" + n).c_str(), O_WRONLY | O_TRUNC);
    if (fd >= 0 && ::write(fd, "short", 5) == 5 && ::fsync(fd) == 0) ack("t", i);
    ::close(fd);
    // An xattr set on a lower file, then fsync.
    if (::setxattr((mnt + "/x" + n).c_str(), "user.k", "v", 1, 0) == 0) {
      fd = ::open((mnt + "/x" + n).c_str(), O_RDONLY);
      if (fd >= 0 && ::fsync(fd) == 0) ack("x", i);
      ::close(fd);
    }
    // A lower directory renamed (a redirect), its parent synced.
    if (::rename((mnt + "/dd" + n).c_str(), (mnt + "/dm" + n).c_str()) == 0 && ::fsync(root) == 0) {
      ack("D", i);
    }
  }
  ::close(root);
}

// On scope exit: PID (a child) killed and reaped, or (CONTINUE_ONLY) just continued.
struct ChildGuard {
  pid_t pid = -1;
  bool continue_only = false;
  ~ChildGuard() {
    if (pid <= 0) return;
    ::kill(pid, SIGCONT);
    if (continue_only) return;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
};

class PowerLossTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    if (::access("/sbin/mkfs.ext4", X_OK) != 0) GTEST_SKIP() << "needs mkfs.ext4 (e2fsprogs)";
    LayerBuilder lower(dir_ / "lower");
    for (int i = 0; i < kRounds; ++i) {
      const std::string n = std::to_string(i);
      lower.File("f" + n, Lower(i), 0644)
          .File("r" + n, Lower(i), 0644)
          .File("u" + n, Lower(i), 0644)
          .File("c" + n, Lower(i), 0644)
          .File("k" + n, Lower(i), 0644)
          .File("t" + n, Lower(i), 0644)
          .File("x" + n, Lower(i), 0644)
          .File("dd" + n + "/in", Lower(i), 0644);
    }
    ::mkdir((dir_ / "mnt").c_str(), 0755);
  }

  std::vector<std::string> Args(const std::string& disk) const {
    std::string o =
        LowerdirOption({dir_ / "lower"}) + ",upperdir=" + disk + "/upper,workdir=" + disk + "/work";
    if (std::string(GetParam()) != "default") o += std::string(",") + GetParam();
    return {"-o", o};
  }

  // Checks the union on crash image IMAGE against the changes ACKED before it was taken.
  void Check(const std::string& image, const std::set<std::string>& acked) {
    SCOPED_TRACE(image + " (" + std::to_string(acked.size()) + " changes fsynced)");
    LoopExt4 disk(image, dir_ / "check-disk", /*format=*/false);
    ASSERT_TRUE(disk.ok()) << disk.error();
    EXPECT_EQ(ReadPath(dir_ / "check-disk/synced"), "synced\n");
    const std::string unsynced = ReadPath(dir_ / "check-disk/unsynced");
    EXPECT_TRUE(unsynced.starts_with("<") || unsynced.empty())
        << "data never synced reached the device: this is no power-loss simulation";
    const std::string m = dir_ / "check-mnt";
    ::mkdir(m.c_str(), 0755);
    StrataMount mount(Args(dir_ / "check-disk"), m);
    ASSERT_TRUE(mount.ok()) << mount.error();
    const Tree tree = DumpTree(m);
    std::set<std::string> expected_names = {"/"};
    for (int i = 0; i < kRounds; ++i) {
      const std::string n = std::to_string(i);
      auto is_acked = [&](const char* kind) { return acked.contains(kind + (" " + n)); };
      // The copied-up file: whole before or after, and after if fsynced.
      const std::string f = ReadPath(m + "/f" + n);
      if (is_acked("f")) {
        EXPECT_TRUE(SameData(f, Lower(i) + "+tail")) << "f" << n << " lost its fsynced append";
      } else {
        EXPECT_TRUE(f == Lower(i) || f == Lower(i) + "+tail") << "f" << n << ": " << f.size();
      }
      expected_names.insert("/f" + n);
      // The new file in its new directory.
      const bool has_d = tree.contains("/d" + n);
      if (is_acked("n")) {
        EXPECT_EQ(ReadPath(m + "/d" + n + "/new"), "new") << "d" << n << "/new lost";
      } else if (has_d && tree.contains("/d" + n + "/new")) {
        const std::string got = ReadPath(m + "/d" + n + "/new");
        EXPECT_TRUE(got.empty() || got == "new") << got;
      }
      if (has_d) expected_names.insert("/d" + n);
      if (tree.contains("/d" + n + "/new")) expected_names.insert("/d" + n + "/new");
      // The renamed file: under exactly one of its names, whole.
      const bool has_r = tree.contains("/r" + n), has_m = tree.contains("/m" + n);
      EXPECT_NE(has_r, has_m) << "r" << n << " renamed to m" << n << ": one name";
      if (is_acked("r")) {
        EXPECT_TRUE(has_m && !has_r) << "the fsynced rename of r" << n << " lost";
      }
      EXPECT_TRUE(SameData(ReadPath(m + (has_m ? "/m" : "/r") + n), Lower(i))) << "r" << n;
      expected_names.insert(has_m ? "/m" + n : "/r" + n);
      // The unlinked file: gone if fsynced, else gone or whole.
      if (tree.contains("/u" + n)) {
        EXPECT_FALSE(is_acked("u")) << "the fsynced unlink of u" << n << " lost";
        EXPECT_TRUE(SameData(ReadPath(m + "/u" + n), Lower(i))) << "u" << n;
        expected_names.insert("/u" + n);
      }
      // The chmod: the new mode if fsynced; the data whole either way.
      struct stat st {};
      ASSERT_EQ(::stat((m + "/c" + n).c_str(), &st), 0);
      if (is_acked("c")) {
        EXPECT_EQ(st.st_mode & 07777, 0600u) << "c" << n << " lost its chmod";
      }
      EXPECT_TRUE(SameData(ReadPath(m + "/c" + n), Lower(i))) << "c" << n;
      expected_names.insert("/c" + n);
      // The new hard link: if present, the same file, whole.
      const bool has_link = tree.contains("/k" + n + ".link");
      if (is_acked("k")) {
        EXPECT_TRUE(has_link) << "the fsynced link k" << n << ".link lost";
      }
      EXPECT_TRUE(SameData(ReadPath(m + "/k" + n), Lower(i))) << "k" << n;
      if (has_link) {
        EXPECT_EQ(tree.at("/k" + n + ".link").ino, tree.at("/k" + n).ino) << "k" << n;
        EXPECT_TRUE(SameData(ReadPath(m + "/k" + n + ".link"), Lower(i))) << "k" << n;
        expected_names.insert("/k" + n + ".link");
      }
      expected_names.insert("/k" + n);
      // The overwritten file: the new data if fsynced; else old, empty (truncated) or new.
      const std::string t = ReadPath(m + "/t" + n);
      if (is_acked("t")) {
        EXPECT_EQ(t, "short") << "t" << n << " lost its fsynced data";
      } else {
        EXPECT_TRUE(t == Lower(i) || t.empty() || t == "short") << "t" << n << ": " << t.size();
      }
      expected_names.insert("/t" + n);
      // The xattr.
      char v[8];
      const ssize_t vlen = ::getxattr((m + "/x" + n).c_str(), "user.k", v, sizeof v);
      if (is_acked("x")) {
        EXPECT_EQ(vlen, 1) << "x" << n << " lost its fsynced xattr";
      }
      EXPECT_TRUE(SameData(ReadPath(m + "/x" + n), Lower(i))) << "x" << n;
      expected_names.insert("/x" + n);
      // The renamed directory: under exactly one name, with its file.
      const bool has_dd = tree.contains("/dd" + n), has_dm = tree.contains("/dm" + n);
      EXPECT_NE(has_dd, has_dm) << "dd" << n << " renamed to dm" << n << ": one name";
      if (is_acked("D")) {
        EXPECT_TRUE(has_dm && !has_dd) << "the fsynced rename of dd" << n << " lost";
      }
      const std::string dir = (has_dm ? "/dm" : "/dd") + n;
      EXPECT_TRUE(SameData(ReadPath(m + dir + "/in"), Lower(i))) << dir;
      expected_names.insert(dir);
      expected_names.insert(dir + "/in");
    }
    for (const auto& [path, e] : tree) {
      EXPECT_TRUE(expected_names.contains(path)) << "stray name " << path;
    }
    EXPECT_EQ(mount.Stop(), 0) << mount.Stderr();
  }

  TempDir dir_;
};

TEST_P(PowerLossTest, EveryFsyncedChangeSurvivesAndNothingIsHalfDone) {
  // Nothing reaches the devices unless someone forces it, while this test runs.
  KernelParam expire("/proc/sys/vm/dirty_expire_centisecs", "360000");
  KernelParam writeback("/proc/sys/vm/dirty_writeback_centisecs", "0");
  ASSERT_TRUE(expire.ok() && writeback.ok()) << "cannot hold the kernel's writeback back";
  const std::string image = dir_ / "disk.img";
  std::vector<std::pair<std::string, std::set<std::string>>> crashes;
  {
    LoopExt4 disk(image, dir_ / "disk", /*format=*/true);
    ASSERT_TRUE(disk.ok()) << disk.error();
    for (const char* d : {"disk/upper", "disk/work"}) ::mkdir((dir_ / d).c_str(), 0755);
    ::sync();  // the empty layer is on the device: the first crash state starts from it
    // The simulation's control: data written beside the layer and never synced is not in any
    // crash state; data fsynced is in all of them.
    std::ofstream(dir_ / "disk/unsynced") << "never synced\n";
    {
      std::ofstream(dir_ / "disk/synced") << "synced\n";
      const int fd = ::open((dir_ / "disk/synced").c_str(), O_RDONLY);
      ASSERT_EQ(::fsync(fd), 0);
      ::close(fd);
    }
    StrataMount mount(Args(dir_ / "disk"), dir_ / "mnt");
    ASSERT_TRUE(mount.ok()) << mount.error();

    int acks[2];
    ASSERT_EQ(::pipe2(acks, O_CLOEXEC), 0);
    const ChildGuard daemon{mount.pid(), /*continue_only=*/true};
    const pid_t program = ::fork();
    if (program == 0) {
      Program(dir_ / "mnt", acks[1]);
      ::_exit(0);
    }
    ChildGuard program_guard{program};
    ::close(acks[1]);
    ::fcntl(acks[0], F_SETFL, O_NONBLOCK);
    std::set<std::string> acked;
    std::string pending;
    auto drain = [&] {
      char buf[4096];
      for (ssize_t n; (n = ::read(acks[0], buf, sizeof buf)) > 0;) pending.append(buf, n);
      for (size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1)) {
        acked.insert(pending.substr(0, nl));
      }
    };
    bool done = false;
    for (int k = 0; !done; ++k) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10 + 7 * (k % 4)));
      done = ::waitpid(program, nullptr, WNOHANG) == program;
      if (done) program_guard.pid = -1;
      if (!done) {
        ASSERT_TRUE(StopEveryThread(mount.pid())) << "daemon threads that never stop";
      }
      drain();  // every change reported before the stop
      const std::string copy = dir_ / ("crash" + std::to_string(k) + ".img");
      ASSERT_EQ(RunCommand({"/bin/cp", "--sparse=always", image, copy}).exit_code, 0);
      crashes.emplace_back(copy, acked);
      if (!done) ::kill(mount.pid(), SIGCONT);
    }
    ::close(acks[0]);
    EXPECT_EQ(acked.size(), 9u * kRounds) << "every change of the program succeeded";
    EXPECT_EQ(mount.Stop(), 0) << mount.Stderr();
  }
  ASSERT_GE(crashes.size(), 3u) << "the program ran too fast to be caught in the middle";
  for (const auto& [copy, acked] : crashes) Check(copy, acked);
  std::printf("%zu crash states checked (%zu to %zu fsynced changes)\n", crashes.size(),
              crashes.front().second.size(), crashes.back().second.size());
}

// The store under power loss: `strata import` of a two-layer image (hundreds of files, a few
// MiB) into a store on the loop device, stopped at moments of its run as above and the device
// copied each time. Every copy's store verifies clean (no half blob, layer or record: every
// published layer's files hash to its recorded tree digest), shows the image once the import
// had reported success, and a second import on it finishes the job.
TEST(StorePowerLossTest, ImportsSurvivePowerLossAtAnyMoment) {
  const std::string why = MountUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << why;
  if (::access("/sbin/mkfs.ext4", X_OK) != 0 || ::access("/usr/bin/umoci", X_OK) != 0) {
    GTEST_SKIP() << "needs mkfs.ext4 and umoci";
  }
  TempDir dir;
  const CommandResult built = RunCommand({"/bin/sh", "-ec", "cd " + dir.path() + R"(
umoci init --layout img
umoci new --image img:1
umoci unpack --image img:1 b >/dev/null
mkdir -p b/rootfs/bin b/rootfs/many
cp /bin/busybox b/rootfs/bin/busybox
for i in $(seq 1 1500); do echo "file $i" > b/rootfs/many/f$i; done
umoci repack --image img:1 b
rm -rf b
umoci unpack --image img:1 b >/dev/null
head -c 12000000 /dev/urandom > b/rootfs/big
for i in $(seq 1 1000); do echo "second $i" > b/rootfs/many/g$i; done
rm b/rootfs/many/f1
umoci repack --image img:1 b
rm -rf b)"},
                                         120000);
  ASSERT_EQ(built.exit_code, 0) << built.err;

  KernelParam expire("/proc/sys/vm/dirty_expire_centisecs", "360000");
  KernelParam writeback("/proc/sys/vm/dirty_writeback_centisecs", "0");
  ASSERT_TRUE(expire.ok() && writeback.ok()) << "cannot hold the kernel's writeback back";
  const std::string image = dir / "disk.img";
  std::vector<std::pair<std::string, bool>> crashes;  // copy, import reported success
  {
    LoopExt4 disk(image, dir / "disk", /*format=*/true);
    ASSERT_TRUE(disk.ok()) << disk.error();
    ::sync();
    const pid_t strata = ::fork();
    if (strata == 0) {
      const int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      ::execl(STRATA_PATH, STRATA_PATH, "--root", (dir / "disk/store").c_str(), "--quiet", "import",
              ("oci:" + (dir / "img") + ":1").c_str(), "--name", "app:1", nullptr);
      ::_exit(127);
    }
    ChildGuard guard{strata};
    bool done = false;
    int status = -1;
    for (int k = 0; !done; ++k) {
      std::this_thread::sleep_for(std::chrono::milliseconds(3 + 5 * (k % 4)));
      done = ::waitpid(strata, &status, WNOHANG) == strata;
      if (done) {
        guard.pid = -1;
      } else {
        ASSERT_TRUE(StopEveryThread(strata)) << "strata never stopped";
      }
      const std::string copy = dir / ("crash" + std::to_string(k) + ".img");
      ASSERT_EQ(RunCommand({"/bin/cp", "--sparse=always", image, copy}).exit_code, 0);
      crashes.emplace_back(copy, done && WIFEXITED(status) && WEXITSTATUS(status) == 0);
      if (!done) ::kill(strata, SIGCONT);
    }
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the import failed";
  }
  ASSERT_GE(crashes.size(), 3u) << "the import ran too fast to be caught in the middle";
  int finished = 0, with_image = 0, without_store = 0;
  for (size_t k = 0; k < crashes.size(); ++k) {
    const auto& [copy, acked] = crashes[k];
    SCOPED_TRACE(copy + (acked ? " (after the import reported success)" : ""));
    LoopExt4 disk(copy, dir / "check", /*format=*/false);
    ASSERT_TRUE(disk.ok()) << disk.error();
    const std::string store = dir / "check/store";
    if (::access(store.c_str(), F_OK) != 0) {
      EXPECT_FALSE(acked);
      ++without_store;
      continue;  // the import had not created its store yet
    }
    const CommandResult verify = RunCommand({STRATA_PATH, "--root", store, "verify"}, 120000);
    EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
    const CommandResult images = RunCommand({STRATA_PATH, "--root", store, "images"});
    if (acked) {
      EXPECT_NE(images.out.find("app"), std::string::npos) << images.out;
    }
    if (images.out.find("app") != std::string::npos) ++with_image;
    // Every fourth copy (and the last): importing again finishes the job.
    if (k % 4 == 0 || k + 1 == crashes.size()) {
      const CommandResult again = RunCommand({STRATA_PATH, "--root", store, "--quiet", "import",
                                              "oci:" + (dir / "img") + ":1", "--name", "app:1"},
                                             120000);
      EXPECT_EQ(again.exit_code, 0) << again.err;
      const CommandResult after = RunCommand({STRATA_PATH, "--root", store, "verify"}, 120000);
      EXPECT_EQ(after.exit_code, 0) << after.out << after.err;
      ++finished;
    }
  }
  std::printf(
      "%zu crash states of an import checked (%d before its store existed, %d with the "
      "image), %d of them imported again\n",
      crashes.size(), without_store, with_image, finished);
}

// metacopy=on: a chmod's copy-up is metadata only, and an open file's fsync reaches the data
// below; the fsync must still make the chmod durable (as kernel overlayfs's does).
INSTANTIATE_TEST_SUITE_P(Modes, PowerLossTest,
                         ::testing::Values("default", "metacopy=on", "writeback=1"),
                         [](const auto& info) { return ModeName(info.param); });

}  // namespace
}  // namespace strata::testing
