// Directory streams of a writable mount while names change (ops_dir.cc, core/dir_listing.h):
// the kernel reads directories without opening them, caches listings, and goes on from its
// cache at any offset the cache holds; a stream must list every name that stays exactly once
// and no name removed before it started, however other streams and names change meanwhile,
// also through small getdents64 buffers (many reads per listing). Several processes at once
// against one daemon, over /dev/fuse, io_uring and with few directory fds; in scripts/test also
// against its TSan build.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "fs/base/unique_fd.h"
#include "tests/support/layer_builder.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"

namespace strata::testing {
namespace {

constexpr size_t kSmallBuffer = 1024;  // a few entries per getdents64, several per daemon read

struct LinuxDirent64 {
  ino64_t d_ino;
  off64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

// One getdents64 of open directory FD into a SIZE-byte buffer: appends the names it returned
// to *NAMES (if given); returns its result (bytes, 0 at the end, -1 with errno).
long ReadNames(int fd, size_t size, std::vector<std::string>* names) {
  std::vector<char> buf(size);  // vector storage is aligned for the dirent's 8-byte fields
  const long n = ::syscall(SYS_getdents64, fd, buf.data(), buf.size());
  for (long pos = 0; pos < n;) {
    auto* de = reinterpret_cast<LinuxDirent64*>(buf.data() + pos);
    if (names != nullptr) names->push_back(de->d_name);
    pos += de->d_reclen;
  }
  return n;
}

// Calls FN with each name of directory PATH (an open fd, read through getdents64 with a small
// buffer) as soon as it is read. False (with *ERR) if opening or reading failed.
bool ForEachName(const std::string& path, const std::function<void(const std::string&)>& fn,
                 std::string* err) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return *err = "open " + path + ": " + std::strerror(errno), false;
  for (;;) {
    std::vector<std::string> names;
    const long n = ReadNames(fd.Get(), kSmallBuffer, &names);
    if (n < 0) return *err = "getdents64: " + std::string(std::strerror(errno)), false;
    if (n == 0) return true;
    for (const std::string& name : names) fn(name);
  }
}

// Runs FN in a child process; returns its pid. The child exits 0 if FN returns "", else writes
// the failure to REPORT and exits 1.
pid_t Spawn(const std::string& report, const std::function<std::string()>& fn) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  const std::string failure = fn();
  if (!failure.empty()) std::ofstream(report) << failure;
  ::_exit(failure.empty() ? 0 : 1);
}

class DirStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    for (const char* d : {"u", "w", "mnt"}) ::mkdir((dir_ / d).c_str(), 0755);
  }
  void TearDown() override {
    for (pid_t pid : children_) {  // a failed assertion may leave some running
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    if (mount_) {
      EXPECT_EQ(mount_->Stop(), 0) << "stratafs stderr: " << mount_->Stderr();
    }
  }
  // DEBUG: the daemon's request trace (-d) in its stderr. MODE: a mode's options, or
  // "default" ("io_uring" also switches the kernel's enable_uring on while the mount lasts).
  void Mount(bool debug = false, const std::string& mode = "default") {
    std::string opts =
        LowerdirOption({dir_ / "l0"}) + ",upperdir=" + (dir_ / "u") + ",workdir=" + (dir_ / "w");
    if (mode != "default") opts += "," + mode;
    std::vector<std::string> args{"-o", opts};
    if (debug) args.insert(args.begin(), "-d");
    if (mode == "io_uring") {
      uring_.emplace();
      ASSERT_TRUE(uring_->ok()) << uring_->error();
    }
    mount_ = std::make_unique<StrataMount>(args, mnt_);
    ASSERT_TRUE(mount_->ok()) << mount_->error();
    if (uring_) {
      ASSERT_TRUE(HoldsIoUring(mount_->pid())) << "the daemon serves over /dev/fuse";
    }
  }
  std::string M(const std::string& rel) const { return mnt_ + "/" + rel; }
  // Waits for every child; returns their failures ("" if none).
  std::string Reap() {
    std::string failures;
    for (size_t i = 0; i < children_.size(); ++i) {
      int status = 0;
      ::waitpid(children_[i], &status, 0);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::ifstream in(Report(i));
        failures += "child " + std::to_string(i) + ": " +
                    std::string(std::istreambuf_iterator<char>(in), {}) + "\n";
      }
    }
    children_.clear();
    return failures;
  }
  std::string Report(size_t i) const { return dir_ / ("report" + std::to_string(i)); }
  void Start(const std::function<std::string()>& fn) {
    children_.push_back(Spawn(Report(children_.size()), fn));
  }

  TempDir dir_;
  const std::string mnt_ = dir_ / "mnt";
  std::optional<FuseUringEnabled> uring_;  // outlives the mount
  std::unique_ptr<StrataMount> mount_;
  std::vector<pid_t> children_;
};

// The same in the modes that change how requests reach the daemon or how it reaches the
// directories: /dev/fuse, io_uring, and few directory fds (reopened all the time).
class DirStreamModesTest : public DirStreamTest, public ::testing::WithParamInterface<const char*> {
 protected:
  void SetUp() override {
    DirStreamTest::SetUp();
    if (IsSkipped()) return;
    if (std::string(GetParam()) == "io_uring" && DaemonLibfuseMinor() < 18) {
      GTEST_SKIP() << "libfuse before 3.18 has no io_uring";
    }
  }
  void MountInMode() { Mount(/*debug=*/false, GetParam()); }
};

std::string LongName(const std::string& prefix, int i) {
  return prefix + std::to_string(i) + std::string(40, 'x');  // fewer entries per read
}

// Names under PATH, recursively (directories entered by their fd, as find does).
void Walk(const std::string& path, std::vector<std::string>* names) {
  std::string err;
  std::vector<std::string> here;
  ASSERT_TRUE(ForEachName(
      path, [&](const std::string& n) { here.push_back(n); }, &err))
      << err;
  for (const std::string& n : here) {
    if (n == "." || n == "..") continue;
    names->push_back(path + "/" + n);
    struct stat st;
    ASSERT_EQ(::lstat((path + "/" + n).c_str(), &st), 0) << n;
    if (S_ISDIR(st.st_mode)) Walk(path + "/" + n, names);
  }
}

// The kernel reads directories without opening them: a walk costs no OPENDIR (but the first,
// answered ENOSYS) and no RELEASEDIR, and a second walk, served from the kernel's cached
// listings, no read at all. A change in one directory makes only that one be read again.
TEST_F(DirStreamTest, DirectoriesAreReadWithoutOpensAndListedFromTheKernelsCache) {
  LayerBuilder l0(dir_ / "l0");
  for (int d = 0; d < 30; ++d) {
    for (int f = 0; f < 5; ++f) l0.File("t/d" + std::to_string(d) + "/f" + std::to_string(f));
  }
  ASSERT_NO_FATAL_FAILURE(Mount(/*debug=*/true));
  std::vector<std::string> first, second, third;
  Walk(M("t"), &first);
  EXPECT_EQ(first.size(), 30u * 6);
  const std::string after_first = mount_->Stderr();
  EXPECT_LE(TraceRequests(after_first, 0, "OPENDIR"), 1);
  EXPECT_EQ(TraceRequests(after_first, 0, "RELEASEDIR"), 0);
  EXPECT_GE(TraceRequests(after_first, 0, "READDIRPLUS") + TraceRequests(after_first, 0, "READDIR"),
            31);
  Walk(M("t"), &second);
  EXPECT_EQ(second, first);
  const std::string after_second = mount_->Stderr();
  EXPECT_EQ(TraceRequests(after_second, after_first.size(), "READDIRPLUS"), 0);
  EXPECT_EQ(TraceRequests(after_second, after_first.size(), "READDIR"), 0);
  EXPECT_EQ(TraceRequests(after_second, after_first.size(), "OPENDIR"), 0);
  ASSERT_EQ(::unlink(M("t/d7/f3").c_str()), 0);
  const size_t before_third = mount_->Stderr().size();
  Walk(M("t"), &third);
  EXPECT_EQ(third.size(), first.size() - 1);
  EXPECT_EQ(std::count(third.begin(), third.end(), M("t/d7/f3")), 0);
  const std::string after_third = mount_->Stderr();
  EXPECT_GE(TraceRequests(after_third, before_third, "READDIRPLUS") +
                TraceRequests(after_third, before_third, "READDIR"),
            1)
      << "the changed directory is read again";
  EXPECT_LE(TraceRequests(after_third, before_third, "READDIRPLUS") +
                TraceRequests(after_third, before_third, "READDIR"),
            2)
      << "only it (its listing, then its end)";
}

// The kernel's cache of a listing is checked only for reads at offset 0. Stream X starts
// filling it, a name is removed, stream W reads all but the end from this daemon (the cache is
// incomplete), X completes the cache, and W reads on: from the cache if W's offset is in it.
// W must not list the removed name (it would if offsets meant the same entry in every listing).
TEST_P(DirStreamModesTest, AStreamNeverGoesOnInACacheFilledBeforeItStarted) {
  LayerBuilder l0(dir_ / "l0");
  for (int i = 0; i < 20; ++i) l0.File("d/n" + std::to_string(i), "x");
  ASSERT_NO_FATAL_FAILURE(MountInMode());
  for (int round = 0; round < 20; ++round) {
    // A change first, so the kernel's cache is refilled from this round's reads.
    ASSERT_TRUE(std::ofstream(M("d/new" + std::to_string(round))) << "y");
    constexpr size_t kBig = 32768;  // every entry in one read
    UniqueFd x(::open(M("d").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(x);
    std::vector<std::string> by_x;
    ASSERT_GT(ReadNames(x.Get(), kBig, &by_x), 0);  // all but the end
    const std::string last = by_x.back();
    ASSERT_EQ(::unlink(M("d/" + last).c_str()), 0) << last << ": " << std::strerror(errno);
    UniqueFd w(::open(M("d").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(w);
    std::vector<std::string> seen;
    ASSERT_GT(ReadNames(w.Get(), kBig, &seen), 0);
    ASSERT_EQ(ReadNames(x.Get(), kBig, nullptr), 0);  // X completes the cache
    while (ReadNames(w.Get(), kBig, &seen) > 0) {
    }
    for (const std::string& n : seen) EXPECT_NE(n, last) << "round " << round;
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()).size(), seen.size());
  }
}

// A stream that read its start from the kernel's cache goes on at this daemon once a change
// made the kernel refill that cache from a newer listing: it must go on with the listing its
// offsets name (read to its end by another stream), not at the same index of a newer one,
// where a name created before its position would make it repeat one.
TEST_P(DirStreamModesTest, AStreamServedFromTheCacheGoesOnWithItsOwnListing) {
  LayerBuilder l0(dir_ / "l0");
  for (int i = 0; i < 40; ++i) l0.File("d/" + LongName("low", i), "x");
  ASSERT_NO_FATAL_FAILURE(MountInMode());
  for (int round = 0; round < 5; ++round) {
    std::vector<std::string> all;
    std::string err;
    ASSERT_TRUE(ForEachName(
        M("d"), [&](const std::string& n) { all.push_back(n); }, &err))
        << err;  // the kernel's cache, complete
    UniqueFd b(::open(M("d").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(b);
    std::vector<std::string> seen;
    constexpr size_t kFew = 512;  // a few entries: B stops early in the listing
    ASSERT_GT(ReadNames(b.Get(), kFew, &seen), 0);
    ASSERT_TRUE(std::ofstream(M("d/new" + std::to_string(round))) << "y");  // listed first
    std::vector<std::string> again;  // refills the kernel's cache
    ASSERT_TRUE(ForEachName(
        M("d"), [&](const std::string& n) { again.push_back(n); }, &err))
        << err;
    ASSERT_EQ(again.size(), all.size() + 1);
    while (ReadNames(b.Get(), kFew, &seen) > 0) {
    }
    std::set<std::string> distinct(seen.begin(), seen.end());
    EXPECT_EQ(distinct.size(), seen.size()) << "a name listed twice, round " << round;
    for (const std::string& n : all) EXPECT_EQ(distinct.count(n), 1u) << n << ", round " << round;
  }
}

// `rm -rf`: every name is removed right after it is read, so each read of the stream lists a
// directory changed since the one before. Every name must be seen exactly once and the
// directory end empty (an index-based offset would skip as many names as were removed).
TEST_P(DirStreamModesTest, RemovingEachNameAsItIsReadSkipsNone) {
  LayerBuilder l0(dir_ / "l0");
  for (int i = 0; i < 1500; ++i) l0.File("d/" + LongName("low", i), "x");
  ASSERT_NO_FATAL_FAILURE(MountInMode());
  std::set<std::string> all;
  for (int i = 0; i < 1500; ++i) all.insert(LongName("low", i));
  for (int i = 0; i < 1500; ++i) {
    const std::string name = LongName("up", i);
    ASSERT_TRUE(std::ofstream(M("d/" + name)) << "y") << name;
    all.insert(name);
  }
  std::multiset<std::string> seen;
  std::string err, unlink_err;
  ASSERT_TRUE(ForEachName(
      M("d"),
      [&](const std::string& name) {
        if (name == "." || name == "..") return;
        seen.insert(name);
        if (::unlink(M("d/" + name).c_str()) != 0 && unlink_err.empty()) {
          unlink_err = name + ": " + std::strerror(errno);
        }
      },
      &err))
      << err;
  EXPECT_EQ(unlink_err, "");
  EXPECT_EQ(seen.size(), all.size()) << "names listed twice or skipped";
  EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()), all);
  std::vector<std::string> left;
  ASSERT_TRUE(ForEachName(
      M("d"), [&](const std::string& n) { left.push_back(n); }, &err))
      << err;
  EXPECT_EQ(left.size(), 2u) << "only . and .. left";
  EXPECT_EQ(::rmdir(M("d").c_str()), 0) << std::strerror(errno);
}

// Processes create and remove other names (lower ones whited out and recreated, upper ones
// made and unlinked, renames among them) while others list: every listing holds each name that
// stays exactly once, and nothing overlay-private.
TEST_P(DirStreamModesTest, NamesThatStayAreListedOnceWhileOthersChange) {
  constexpr int kStay = 600, kChurn = 300, kChurners = 2, kListers = 2;
  LayerBuilder l0(dir_ / "l0");
  for (int i = 0; i < kStay; ++i) l0.File("d/" + LongName("stay", i), "s");
  for (int i = 0; i < kChurn; ++i) l0.File("d/" + LongName("churn", i), "c");
  ASSERT_NO_FATAL_FAILURE(MountInMode());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (int c = 0; c < kChurners; ++c) {
    Start([&, c]() -> std::string {
      unsigned rng = 17u + static_cast<unsigned>(c);
      while (std::chrono::steady_clock::now() < deadline) {
        rng = rng * 1103515245u + 12345u;
        const std::string a = M("d/" + LongName("churn", static_cast<int>(rng >> 8) % kChurn));
        const std::string b = M("d/" + LongName("churn", static_cast<int>(rng >> 16) % kChurn));
        switch ((rng >> 4) % 3) {
          case 0:
            ::unlink(a.c_str());
            break;  // ENOENT when the other churner was first
          case 1: {
            UniqueFd fd(::open(a.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
            if (!fd) return "create " + a + ": " + std::strerror(errno);
            break;
          }
          default:
            ::rename(a.c_str(), b.c_str());
            break;
        }
      }
      return "";
    });
  }
  for (int l = 0; l < kListers; ++l) {
    Start([&]() -> std::string {
      int listings = 0;
      while (std::chrono::steady_clock::now() < deadline || listings == 0) {
        std::map<std::string, int> count;
        std::string err;
        if (!ForEachName(
                M("d"), [&](const std::string& n) { ++count[n]; }, &err))
          return err;
        ++listings;
        for (const auto& [name, n] : count) {
          if (n != 1) return name + " listed " + std::to_string(n) + " times";
          if (name.starts_with(".wh.")) return "a whiteout listed: " + name;
        }
        for (int i = 0; i < kStay; ++i) {
          if (!count.contains(LongName("stay", i))) {
            return "listing " + std::to_string(listings) + " misses " + LongName("stay", i);
          }
        }
      }
      return "";
    });
  }
  EXPECT_EQ(Reap(), "");
}

INSTANTIATE_TEST_SUITE_P(Modes, DirStreamModesTest,
                         ::testing::Values("default", "io_uring", "dir_fds=8", "max_nodes=16"),
                         [](const auto& info) { return ModeName(info.param); });

}  // namespace
}  // namespace strata::testing
