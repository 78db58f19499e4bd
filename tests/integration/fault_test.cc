// Faults a writable mount must survive with a clear errno, nothing lost and no hang:
// - the upper layer out of space (a small tmpfs: blocks, then inodes) during copy-up, write,
//   create, mkdir, symlink, whiteouts and directory renames: ENOSPC to the caller, the lower
//   object unchanged, no leftovers in the workdir, and everything works once space is freed;
// - lower layers changed behind the mount's back (a directory and files removed, a file
//   replaced by a directory): errors or the old answer, never a crash or a hang, and the rest
//   of the mount keeps working;
// - the daemon killed: callers get ENOTCONN (or ECONNABORTED) at once; the mount goes with one
// umount or
//   fusermount3 -u, or, with files still open in it, says it is busy and goes with a lazy one.
// EDQUOT cannot be produced on this kernel (no quota support in tmpfs, ext4 without
// CONFIG_QFMT_V2): stratafs passes the errno of the failing call through, which ENOSPC shows.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <thread>

#include "tests/support/file_data.h"
#include "tests/support/layer_builder.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/process_stats.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tree_dump.h"

namespace strata::testing {
namespace {

// errno of FN (0 if it returned >= 0), run in a child process that is killed if it takes more
// than TIMEOUT_MS: -1 for a hang.
int ErrnoOf(const std::function<long()>& fn, int timeout_ms = 10000) {
  int pipefd[2];
  if (::pipe(pipefd) != 0) return -2;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipefd[0]);
    errno = 0;
    const int e = fn() < 0 ? errno : 0;
    (void)!::write(pipefd[1], &e, sizeof e);
    ::_exit(0);
  }
  ::close(pipefd[1]);
  int e = -1;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  bool done = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, nullptr, WNOHANG) == pid) {
      done = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!done) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  } else if (::read(pipefd[0], &e, sizeof e) != sizeof e) {
    e = -3;
  }
  ::close(pipefd[0]);
  return done ? e : -1;
}

std::string Pattern(size_t size) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + (i / 4093 + i) % 26);
  return s;
}

std::string Leftovers(const std::string& dir) {
  std::string out;
  for (const auto& [path, e] : DumpTree(dir)) {
    if (path != "/") out += path + " ";
  }
  return out;
}

long WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) return -1;
    done += static_cast<size_t>(n);
  }
  return 0;
}

// Writes chunks to a new file PATH until a write or fsync fails; returns that errno (0 if
// LIMIT bytes went in).
int FillUntilFull(const std::string& path, size_t limit) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return errno;
  const std::string chunk(64 << 10, 'x');
  int e = 0;
  for (size_t written = 0; written < limit && e == 0; written += chunk.size()) {
    if (WriteAll(fd, chunk) != 0 || ::fsync(fd) != 0) e = errno;
  }
  ::close(fd);
  return e;
}

class FullUpperTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    LayerBuilder(dir_ / "lower")
        .File("big", Pattern(3 << 20), 0644)
        .File("small", "small\n", 0644)
        .File("dir/file", "in dir\n", 0644)
        .File("gone", "to be removed\n", 0644);
    space_.emplace(dir_ / "space", "size=6m,nr_inodes=400");
    ASSERT_TRUE(space_->ok()) << "tmpfs: " << std::strerror(errno);
    for (const char* d : {"space/upper", "space/work", "mnt"}) {
      ASSERT_EQ(::mkdir((dir_ / d).c_str(), 0755), 0);
    }
  }
  std::vector<std::string> Args() const {
    std::string o = LowerdirOption({dir_ / "lower"}) + ",upperdir=" + (dir_ / "space/upper") +
                    ",workdir=" + (dir_ / "space/work");
    if (std::string(GetParam()) != "default") o += std::string(",") + GetParam();
    return {"-o", o};
  }
  // Nothing the mount staged in its workdir is left.
  std::string WorkLeftovers() const { return Leftovers(dir_ / "space/work/work"); }

  TempDir dir_;
  std::optional<TmpfsMount> space_;
};

TEST_P(FullUpperTest, OutOfSpaceIsENOSPCAndLosesNothing) {
  StrataMount m(Args(), dir_ / "mnt");
  ASSERT_TRUE(m.ok()) << m.error();
  const std::string mnt = dir_ / "mnt";
  const std::string big = Pattern(3 << 20);

  // Out of blocks.
  EXPECT_EQ(FillUntilFull(mnt + "/filler", 64 << 20), ENOSPC);
  EXPECT_EQ(ErrnoOf([&] { return ::open((mnt + "/big").c_str(), O_WRONLY | O_APPEND); }), ENOSPC)
      << "the copy-up of a 3 MiB file does not fit";
  // A chmod copies the file up: all of it, or with metacopy=on its metadata only (which needs
  // no block and may fit).
  const int chmod_errno = ErrnoOf([&] { return ::chmod((mnt + "/small").c_str(), 0600); });
  if (ExtraModeHas("metacopy=on")) {
    EXPECT_TRUE(chmod_errno == 0 || chmod_errno == ENOSPC) << std::strerror(chmod_errno);
  } else {
    EXPECT_EQ(chmod_errno, ENOSPC);
  }
  EXPECT_TRUE(SameData(ReadPath(mnt + "/big"), big)) << "the lower file, whole";
  EXPECT_EQ(ReadPath(mnt + "/small"), "small\n");
  struct stat st {};
  ASSERT_EQ(::stat((mnt + "/small").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, chmod_errno == 0 ? 0600u : 0644u)
      << "a failed chmod changes nothing";
  EXPECT_NE(::access((dir_ / "space/upper/big").c_str(), F_OK), 0) << "no partial copy";
  EXPECT_EQ(WorkLeftovers(), "");

  // Out of inodes too: names that need a new object in the upper layer fail.
  int files = 0;
  for (; files < 2000; ++files) {
    const int fd = ::open((mnt + "/e" + std::to_string(files)).c_str(), O_CREAT | O_WRONLY, 0644);
    if (fd < 0) {
      EXPECT_EQ(errno, ENOSPC);
      break;
    }
    ::close(fd);
  }
  ASSERT_LT(files, 2000) << "the tmpfs never ran out of inodes";
  EXPECT_EQ(ErrnoOf([&] { return ::mkdir((mnt + "/newdir").c_str(), 0755); }), ENOSPC);
  EXPECT_EQ(ErrnoOf([&] { return ::symlink("small", (mnt + "/sl").c_str()); }), ENOSPC);
  EXPECT_EQ(ErrnoOf([&] { return ::unlink((mnt + "/gone").c_str()); }), ENOSPC)
      << "a whiteout needs an inode";
  EXPECT_EQ(ErrnoOf([&] { return ::rename((mnt + "/dir").c_str(), (mnt + "/moved").c_str()); }),
            ENOSPC);
  EXPECT_EQ(ReadPath(mnt + "/gone"), "to be removed\n");
  EXPECT_EQ(ReadPath(mnt + "/dir/file"), "in dir\n");
  EXPECT_NE(::access((mnt + "/moved").c_str(), F_OK), 0);
  EXPECT_NE(::access((mnt + "/newdir").c_str(), F_OK), 0);
  EXPECT_EQ(WorkLeftovers(), "");

  // Space freed through the mount: everything that failed works, with the right data.
  ASSERT_EQ(::unlink((mnt + "/filler").c_str()), 0);
  for (int i = 0; i < files; ++i) ASSERT_EQ(::unlink((mnt + "/e" + std::to_string(i)).c_str()), 0);
  {
    const int fd = ::open((mnt + "/big").c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    EXPECT_EQ(::write(fd, "tail", 4), 4);
    EXPECT_EQ(::fsync(fd), 0);
    ::close(fd);
  }
  EXPECT_TRUE(SameData(ReadPath(mnt + "/big"), big + "tail"));
  EXPECT_EQ(::chmod((mnt + "/small").c_str(), 0600), 0);
  EXPECT_EQ(::mkdir((mnt + "/newdir").c_str(), 0755), 0);
  EXPECT_EQ(::symlink("small", (mnt + "/sl").c_str()), 0);
  EXPECT_EQ(::unlink((mnt + "/gone").c_str()), 0);
  EXPECT_EQ(::rename((mnt + "/dir").c_str(), (mnt + "/moved").c_str()), 0);
  EXPECT_EQ(ReadPath(mnt + "/moved/file"), "in dir\n");
  EXPECT_EQ(ReadPath(mnt + "/sl"), "small\n");
  EXPECT_EQ(m.Stop(), 0) << m.Stderr();

  // And all of it is there after a remount.
  StrataMount again(Args(), dir_ / "mnt");
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_TRUE(SameData(ReadPath(mnt + "/big"), big + "tail"));
  ASSERT_EQ(::stat((mnt + "/small").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_NE(::access((mnt + "/gone").c_str(), F_OK), 0);
  EXPECT_EQ(ReadPath(mnt + "/moved/file"), "in dir\n");
  EXPECT_NE(::access((mnt + "/dir").c_str(), F_OK), 0);
  EXPECT_EQ(again.Stop(), 0) << again.Stderr();
  EXPECT_EQ(WorkLeftovers(), "");
}

INSTANTIATE_TEST_SUITE_P(Modes, FullUpperTest,
                         ::testing::Values("default", "passthrough=0", "writeback=1"),
                         [](const auto& info) { return ModeName(info.param); });

class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    LayerBuilder(dir_ / "lower")
        .File("keep", "kept\n", 0644)
        .File("small", "small\n", 0644)
        .File("replaced", "a file\n", 0644)
        .File("dir/a", "a\n", 0644)
        .File("dir/sub/b", "b\n", 0644);
    for (const char* d : {"upper", "work", "mnt"}) ASSERT_EQ(::mkdir((dir_ / d).c_str(), 0755), 0);
  }
  std::vector<std::string> Args() const {
    return {"-o", LowerdirOption({dir_ / "lower"}) + ",upperdir=" + (dir_ / "upper") +
                      ",workdir=" + (dir_ / "work")};
  }
  TempDir dir_;
};

TEST_F(FaultTest, LowerLayerChangedBehindTheMountGivesErrorsNeverAHang) {
  StrataMount m(Args(), dir_ / "mnt");
  ASSERT_TRUE(m.ok()) << m.error();
  const std::string mnt = dir_ / "mnt";
  // The kernel and the daemon learn the tree first.
  ASSERT_EQ(RunCommand({"/bin/ls", "-lR", mnt}).exit_code, 0);
  ASSERT_EQ(ReadPath(mnt + "/dir/sub/b"), "b\n");

  ASSERT_EQ(RunCommand({"/bin/rm", "-rf", dir_ / "lower/dir", dir_ / "lower/small"}).exit_code, 0);
  ASSERT_EQ(::unlink((dir_ / "lower/replaced").c_str()), 0);
  ASSERT_EQ(::mkdir((dir_ / "lower/replaced").c_str(), 0755), 0);

  // Each of these may fail or give the old answer (the kernel caches names and attributes
  // indefinitely), but it returns, and the daemon stays up.
  const std::vector<std::pair<std::string, std::function<long()>>> ops = {
      {"read a removed file", [&] { return ReadPath(mnt + "/small").starts_with("<") ? -1 : 0; }},
      {"list a removed directory",
       [&] {
         return RunCommand({"/bin/ls", "-la", mnt + "/dir/sub"}).exit_code == 0 ? 0 : -1;
       }},
      {"copy up a removed file", [&] { return ::chmod((mnt + "/small").c_str(), 0600); }},
      {"create in a removed directory",
       [&] { return ::open((mnt + "/dir/sub/new").c_str(), O_CREAT | O_WRONLY, 0644); }},
      {"copy up a removed directory", [&] { return ::mkdir((mnt + "/dir/sub/d").c_str(), 0755); }},
      {"rename a removed directory",
       [&] { return ::rename((mnt + "/dir").c_str(), (mnt + "/dir2").c_str()); }},
      {"unlink a removed file", [&] { return ::unlink((mnt + "/dir/a").c_str()); }},
      {"open a file replaced by a directory",
       [&] { return ::open((mnt + "/replaced").c_str(), O_RDONLY); }},
      {"append to a file replaced by a directory",
       [&] { return ::open((mnt + "/replaced").c_str(), O_WRONLY | O_APPEND); }},
      {"walk the whole tree",
       [&] {
         return RunCommand({"/usr/bin/find", mnt, "-ls"}).exit_code == 0 ? 0 : -1;
       }},
  };
  for (const auto& [what, op] : ops) {
    const int e = ErrnoOf(op);
    EXPECT_NE(e, -1) << what << " hangs";
    std::printf("%s: %s\n", what.c_str(), e > 0 ? std::strerror(e) : e == 0 ? "ok" : "?");
    ASSERT_EQ(::kill(m.pid(), 0), 0) << "the daemon died at: " << what << "\n" << m.Stderr();
  }
  // The rest of the mount works.
  EXPECT_EQ(ReadPath(mnt + "/keep"), "kept\n");
  std::ofstream(mnt + "/new") << "new\n";
  EXPECT_EQ(ReadPath(mnt + "/new"), "new\n");
  EXPECT_EQ(ReadPath(dir_ / "upper/new"), "new\n");
  EXPECT_EQ(m.Stop(), 0) << m.Stderr();
}

// What a caller of a mount whose daemon died gets: ENOTCONN, or ECONNABORTED for a request the
// kernel had queued before it finished tearing the connection down. Anything else (or a hang,
// -1) is a failure.
::testing::AssertionResult Disconnected(int e) {
  if (e == ENOTCONN || e == ECONNABORTED) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "errno " << e << " (" << (e > 0 ? std::strerror(e) : "hang") << "), not ENOTCONN";
}

// Waits until the kernel has seen PID die (a zombie still answers kill(0)).
void WaitDead(pid_t pid) {
  for (int i = 0; i < 500; ++i) {
    const char state = ProcessState(pid);
    if (state == '\0' || state == 'Z') return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Runs ARGV (an unmount) and returns its result, failing if it took more than 5 s.
CommandResult Timed(const std::vector<std::string>& argv) {
  const auto start = std::chrono::steady_clock::now();
  CommandResult r = RunCommand(argv, 10000);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5))
      << argv[0] << " hangs";
  return r;
}

TEST_F(FaultTest, DeadDaemonsMountGoesAtOnce) {
  const std::string mnt = dir_ / "mnt";
  for (const bool use_fusermount : {false, true}) {
    SCOPED_TRACE(use_fusermount ? "fusermount3" : "umount");
    // Nothing open in it: one unmount removes it.
    {
      StrataMount m(Args(), mnt);
      ASSERT_TRUE(m.ok()) << m.error();
      ASSERT_EQ(ReadPath(mnt + "/keep"), "kept\n");
      ASSERT_EQ(::kill(m.pid(), SIGKILL), 0);
      WaitDead(m.pid());
      EXPECT_TRUE(
          Disconnected(ErrnoOf([&] { return ::open((mnt + "/keep").c_str(), O_RDONLY); }, 2000)));
      const CommandResult u =
          Timed(use_fusermount ? std::vector<std::string>{"/bin/fusermount3", "-u", mnt}
                               : std::vector<std::string>{"/bin/umount", mnt});
      EXPECT_EQ(u.exit_code, 0) << u.err;
      EXPECT_FALSE(IsMountPoint(mnt));
      m.Stop();
    }
    // Files and directories open in it: the unmount says it is busy at once, a lazy one
    // detaches it at once, and the open descriptors answer ENOTCONN (no caller hangs).
    {
      StrataMount m(Args(), mnt);
      ASSERT_TRUE(m.ok()) << m.error();
      const int file = ::open((mnt + "/keep").c_str(), O_RDONLY);
      const int dir = ::open((mnt + "/dir").c_str(), O_RDONLY | O_DIRECTORY);
      ASSERT_GE(file, 0);
      ASSERT_GE(dir, 0);
      ASSERT_EQ(::kill(m.pid(), SIGKILL), 0);
      WaitDead(m.pid());
      char c;
      EXPECT_TRUE(Disconnected(ErrnoOf([&] { return ::pread(file, &c, 1, 0); }, 2000)));
      EXPECT_TRUE(Disconnected(ErrnoOf([&] { return ::openat(dir, "a", O_RDONLY); }, 2000)));
      const CommandResult busy =
          Timed(use_fusermount ? std::vector<std::string>{"/bin/fusermount3", "-u", mnt}
                               : std::vector<std::string>{"/bin/umount", mnt});
      EXPECT_NE(busy.exit_code, 0);
      EXPECT_NE((busy.out + busy.err).find("busy"), std::string::npos) << busy.out << busy.err;
      const CommandResult lazy =
          Timed(use_fusermount ? std::vector<std::string>{"/bin/fusermount3", "-uz", mnt}
                               : std::vector<std::string>{"/bin/umount", "-l", mnt});
      EXPECT_EQ(lazy.exit_code, 0) << lazy.err;
      EXPECT_FALSE(IsMountPoint(mnt));
      EXPECT_TRUE(Disconnected(ErrnoOf([&] { return ::pread(file, &c, 1, 0); }, 2000)));
      ::close(file);
      ::close(dir);
      m.Stop();
    }
    // The mountpoint is an ordinary directory again, and a new mount works on it.
    StrataMount again(Args(), mnt);
    ASSERT_TRUE(again.ok()) << again.error();
    EXPECT_EQ(ReadPath(mnt + "/keep"), "kept\n");
    EXPECT_EQ(again.Stop(), 0);
  }
}

}  // namespace
}  // namespace strata::testing
