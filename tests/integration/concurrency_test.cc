// Concurrency model test: several processes change a writable mount at once, each in
// directories of its own (sibling directories of one lower stack, on a filesystem that reuses
// inode numbers at once), while other processes list and stat those directories in a loop.
// Every result a worker sees is checked against its model of its own directories, whose names
// nobody else changes:
// - a name just created is openable and holds what was written; O_EXCL on a live name fails;
// - a removed name is gone (ENOENT), also for the kernel's cached listings and lookups;
// - a listing contains exactly the live names; hard links share data and st_ino, and st_nlink
//   counts them;
// - a descriptor opened read-only before a copy-up (through the same name or another hard
//   link) reads the new data; a descriptor whose file was unlinked works, with st_nlink 0
//   when no name is left.
// Then the mount is remounted and every directory must hold exactly the models' final state.
//
// STRATA_CONCURRENCY_SECONDS sets the run time (default 6); STRATA_TEST_STRATAFS runs another
// daemon binary (the TSan build in scripts/test).
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include "tests/support/layer_builder.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"

namespace strata::testing {
namespace {

constexpr int kWorkers = 4;
constexpr int kListers = 2;
constexpr int kNames = 12;               // names per directory: reused all the time
const char* const kDirs[] = {"a", "b"};  // each worker's two directories
constexpr int kLowerFiles = 6;           // n0..n5 exist in the lower layer
constexpr int kLowerLink = kLowerFiles;  // n6 and n7 are hard links of one lower file

int Seconds() {
  const char* s = std::getenv("STRATA_CONCURRENCY_SECONDS");
  return s ? std::max(1, std::atoi(s)) : 6;
}

std::string LowerContent(int worker, const std::string& dir, int n) {
  return "lower " + std::to_string(worker) + "/" + dir + "/n" + std::to_string(n) + "\n";
}

// One file as the worker believes it to be.
struct Object {
  std::string data;
  int links = 0;
  ino_t ino = 0;  // 0 until first seen
};

// A worker's model of its directories: "a/n3" -> object.
class Worker {
 public:
  Worker(int index, std::string root) : index_(index), root_(std::move(root)), rng_(index * 7 + 1) {
    for (const char* d : kDirs) {
      for (int n = 0; n < kLowerFiles; ++n) {
        auto o = std::make_shared<Object>();
        o->data = LowerContent(index, d, n);
        o->links = 1;
        names_[std::string(d) + "/n" + std::to_string(n)] = o;
      }
      auto linked = std::make_shared<Object>();
      linked->data = LowerContent(index, d, kLowerLink);
      linked->links = 2;
      names_[std::string(d) + "/n" + std::to_string(kLowerLink)] = linked;
      names_[std::string(d) + "/n" + std::to_string(kLowerLink + 1)] = linked;
    }
  }

  // Runs until DEADLINE; returns "" or the first failure with the operations before it.
  std::string Run(std::chrono::steady_clock::time_point deadline) {
    while (std::chrono::steady_clock::now() < deadline) {
      ++ops_;
      const std::string failure = Step();
      if (!failure.empty()) {
        std::string out = "worker " + std::to_string(index_) + " op " + std::to_string(ops_) +
                          ": " + failure + "\nlast operations:\n";
        for (const std::string& l : log_) out += "  " + l + "\n";
        return out;
      }
    }
    for (const char* d : kDirs) {
      if (std::string f = CheckList(d); !f.empty()) return "final listing: " + f;
    }
    return "";
  }

  // The final state, one "name\tdata" line per name (data with newlines escaped).
  std::string State() const {
    std::string out;
    for (const auto& [name, o] : names_) out += name + "\t" + Escape(o->data) + "\n";
    return out;
  }
  int ops() const { return ops_; }
  static std::string Escape(const std::string& s) {
    std::string out;
    for (char c : s) out += c == '\n' ? std::string("\\n") : std::string(1, c);
    return out;
  }

 private:
  std::string Path(const std::string& rel) const {
    return root_ + "/w" + std::to_string(index_) + "/" + rel;
  }
  std::string RandomName() {
    return std::string(kDirs[rng_() % 2]) + "/n" + std::to_string(rng_() % kNames);
  }
  std::shared_ptr<Object> Find(const std::string& name) const {
    auto it = names_.find(name);
    return it == names_.end() ? nullptr : it->second;
  }
  void Log(const std::string& what) {
    log_.push_back(what);
    if (log_.size() > 12) log_.pop_front();
  }
  static std::string Err(const std::string& what, int err) {
    return what + ": " + std::strerror(err);
  }

  // Reads all of FD from offset 0 and checks data, st_nlink and st_ino against O.
  std::string CheckFd(int fd, const Object& o, const std::string& what) {
    std::string data;
    char buf[4096];
    for (off_t off = 0;;) {
      const ssize_t n = ::pread(fd, buf, sizeof buf, off);
      if (n < 0) return Err(what + ": read", errno);
      if (n == 0) break;
      data.append(buf, static_cast<size_t>(n));
      off += n;
    }
    if (data != o.data)
      return what + ": read '" + Escape(data) + "', want '" + Escape(o.data) + "'";
    struct stat st;
    if (::fstat(fd, &st) != 0) return Err(what + ": fstat", errno);
    if (st.st_size != static_cast<off_t>(o.data.size())) {
      return what + ": size " + std::to_string(st.st_size) + ", want " +
             std::to_string(o.data.size());
    }
    if (st.st_nlink != static_cast<nlink_t>(o.links)) {
      return what + ": st_nlink " + std::to_string(st.st_nlink) + ", want " +
             std::to_string(o.links);
    }
    return "";
  }

  std::string CheckName(const std::string& name) {
    auto o = Find(name);
    const int fd = ::open(Path(name).c_str(), O_RDONLY | O_CLOEXEC);
    if (!o) {
      if (fd >= 0) {
        ::close(fd);
        return "open " + name + ": exists, but it was removed";
      }
      return errno == ENOENT ? "" : Err("open " + name, errno);
    }
    if (fd < 0) return Err("open " + name + " (live)", errno);
    std::string f = CheckFd(fd, *o, name);
    struct stat st;
    if (f.empty() && ::fstat(fd, &st) == 0) {
      if (o->ino == 0) o->ino = st.st_ino;
      if (st.st_ino != o->ino) f = name + ": st_ino changed";
    }
    ::close(fd);
    return f;
  }

  std::string CheckList(const std::string& dir) {
    DIR* d = ::opendir(Path(dir).c_str());
    if (d == nullptr) return Err("opendir " + dir, errno);
    std::set<std::string> listed;
    while (const struct dirent* de = ::readdir(d)) {
      const std::string n = de->d_name;
      if (n != "." && n != "..") listed.insert(dir + "/" + n);
    }
    ::closedir(d);
    std::set<std::string> want;
    for (const auto& [name, o] : names_) {
      if (name.compare(0, dir.size() + 1, dir + "/") == 0) want.insert(name);
    }
    if (listed == want) return "";
    std::string diff = "listing of " + dir + " differs:";
    for (const auto& n : listed) {
      if (!want.count(n)) diff += " +" + n;
    }
    for (const auto& n : want) {
      if (!listed.count(n)) diff += " -" + n;
    }
    return diff;
  }

  std::string Step() {
    const std::string name = RandomName(), other = RandomName();
    auto o = Find(name);
    switch (rng_() % 9) {
      case 0: {  // create
        Log("create " + name);
        const int fd = ::open(Path(name).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (o) {
          if (fd >= 0) ::close(fd);
          return fd >= 0           ? "O_EXCL create of live " + name + " succeeded"
                 : errno == EEXIST ? ""
                                   : Err("create " + name + " (live)", errno);
        }
        if (fd < 0) return Err("create " + name, errno);
        auto fresh = std::make_shared<Object>();
        fresh->data =
            "w" + std::to_string(index_) + " " + name + " #" + std::to_string(ops_) + "\n";
        fresh->links = 1;
        const bool ok = ::write(fd, fresh->data.data(), fresh->data.size()) ==
                        static_cast<ssize_t>(fresh->data.size());
        ::close(fd);
        if (!ok) return Err("write " + name, errno);
        names_[name] = fresh;
        return CheckName(name);
      }
      case 1:
        Log("check " + name);
        return CheckName(name);
      case 2: {  // unlink
        Log("unlink " + name);
        const int rc = ::unlink(Path(name).c_str());
        if (!o)
          return rc == 0           ? "unlink of removed " + name + " succeeded"
                 : errno == ENOENT ? ""
                                   : Err("unlink " + name + " (removed)", errno);
        if (rc != 0) return Err("unlink " + name, errno);
        --o->links;
        names_.erase(name);
        return CheckName(name);
      }
      case 3: {  // rename, maybe over a live name, maybe into the other directory
        Log("rename " + name + " -> " + other);
        const int rc = ::rename(Path(name).c_str(), Path(other).c_str());
        if (!o)
          return rc == 0           ? "rename of removed " + name + " succeeded"
                 : errno == ENOENT ? ""
                                   : Err("rename " + name + " (removed)", errno);
        if (rc != 0) return Err("rename " + name + " -> " + other, errno);
        if (name != other && Find(other) != o) {  // names of one file: rename does nothing
          if (auto replaced = Find(other)) --replaced->links;
          names_[other] = o;
          names_.erase(name);
        }
        if (std::string f = CheckName(name); !f.empty()) return f;
        return CheckName(other);
      }
      case 4: {  // link
        Log("link " + name + " -> " + other);
        const int rc = ::link(Path(name).c_str(), Path(other).c_str());
        if (!o || Find(other)) {
          if (rc == 0) return "link " + name + " -> " + other + " succeeded";
          return errno == (o ? EEXIST : ENOENT) ? "" : Err("link " + name + " -> " + other, errno);
        }
        if (rc != 0) return Err("link " + name + " -> " + other, errno);
        ++o->links;
        names_[other] = o;
        if (std::string f = CheckName(other); !f.empty()) return f;
        return CheckName(name);
      }
      case 5: {
        const std::string dir = kDirs[rng_() % 2];
        Log("list " + dir);
        return CheckList(dir);
      }
      case 6: {  // a read-only descriptor, then a write through NAME or another of its links
        if (!o) return "";
        std::string via = name;
        for (const auto& [n, obj] : names_) {
          if (obj == o && n != name && rng_() % 2) via = n;
        }
        Log("hold " + name + ", append via " + via);
        const int ro = ::open(Path(name).c_str(), O_RDONLY | O_CLOEXEC);
        if (ro < 0) return Err("open " + name, errno);
        const int wr = ::open(Path(via).c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
        if (wr < 0) {
          ::close(ro);
          return Err("open for append " + via, errno);
        }
        const std::string more = "+" + std::to_string(ops_) + std::string(rng_() % 5000, 'x');
        const bool ok = ::write(wr, more.data(), more.size()) == static_cast<ssize_t>(more.size());
        ::close(wr);
        if (ok) o->data += more;
        std::string f = ok ? CheckFd(ro, *o, "descriptor held across the write to " + via)
                           : Err("append " + via, errno);
        ::close(ro);
        return f;
      }
      case 7: {  // a descriptor whose name goes away
        if (!o) return "";
        Log("open, unlink, use " + name);
        const int fd = ::open(Path(name).c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0) return Err("open " + name, errno);
        std::string f;
        if (::unlink(Path(name).c_str()) != 0) {
          f = Err("unlink " + name, errno);
        } else {
          --o->links;
          names_.erase(name);
          const std::string tail = "after unlink\n";
          if (::pwrite(fd, tail.data(), tail.size(), static_cast<off_t>(o->data.size())) !=
              static_cast<ssize_t>(tail.size())) {
            f = Err("write after unlink " + name, errno);
          } else {
            o->data += tail;
            f = CheckFd(fd, *o, "unlinked " + name);
            if (f.empty() && ::fsync(fd) != 0) f = Err("fsync after unlink " + name, errno);
            if (f.empty() && ::ftruncate(fd, 3) != 0) f = Err("ftruncate after unlink", errno);
            if (f.empty()) {
              o->data.resize(3);
              f = CheckFd(fd, *o, "unlinked and truncated " + name);
            }
          }
        }
        ::close(fd);
        if (f.empty()) f = CheckName(name);
        return f;
      }
      default: {  // truncate through one name, check through the others
        if (!o) return "";
        Log("truncate " + name);
        const size_t size = rng_() % (o->data.size() + 1);
        if (::truncate(Path(name).c_str(), static_cast<off_t>(size)) != 0) {
          return Err("truncate " + name, errno);
        }
        o->data.resize(size);
        for (const auto& [n, obj] : names_) {
          if (obj != o) continue;
          if (std::string f = CheckName(n); !f.empty()) return f;
        }
        return "";
      }
    }
  }

  int index_;
  std::string root_;
  std::mt19937_64 rng_;
  std::map<std::string, std::shared_ptr<Object>> names_;
  std::deque<std::string> log_;
  int ops_ = 0;
};

// Lists and stats every worker directory until DEADLINE (results unchecked: the point is to
// fill the kernel's caches while the workers change the directories).
void Lister(const std::string& root, int seed, std::chrono::steady_clock::time_point deadline) {
  std::mt19937_64 rng(seed);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string dir = root + "/w" + std::to_string(rng() % kWorkers) + "/" + kDirs[rng() % 2];
    if (DIR* d = ::opendir(dir.c_str())) {
      while (const struct dirent* de = ::readdir(d)) {
        struct stat st;
        if (rng() % 4 == 0) ::fstatat(::dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW);
      }
      ::closedir(d);
    }
  }
}

// Runs FN in a child process; its result ("" for success) is written to FILE.
pid_t Fork(const std::string& file, const std::function<std::string()>& fn) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::string result;
    try {
      result = fn();
    } catch (const std::exception& e) {
      result = std::string("exception: ") + e.what();
    }
    std::ofstream(file) << result;
    ::_exit(result.empty() ? 0 : 1);
  }
  return pid;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "name\tdata" lines for every file under ROOT/wI (as Worker::State writes them).
std::string StateOnDisk(const std::string& root, int worker) {
  std::string out;
  for (const char* d : kDirs) {
    const std::string dir = root + "/w" + std::to_string(worker) + "/" + d;
    DIR* dh = ::opendir(dir.c_str());
    if (dh == nullptr) return "cannot list " + dir;
    std::set<std::string> names;
    while (const struct dirent* de = ::readdir(dh)) {
      if (std::string(de->d_name) != "." && std::string(de->d_name) != "..")
        names.insert(de->d_name);
    }
    ::closedir(dh);
    for (const std::string& n : names) {
      out += std::string(d) + "/" + n + "\t" + Worker::Escape(Slurp(dir + "/" + n)) + "\n";
    }
  }
  return out;
}

class ConcurrencyTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
  }
};

TEST_P(ConcurrencyTest, WorkersAgreeWithTheirModels) {
  TempDir dir;  // on the build tree's filesystem (ext4 here): inode numbers are reused at once
  LayerBuilder lower(dir / "lower");
  for (int w = 0; w < kWorkers; ++w) {
    for (const char* d : kDirs) {
      const std::string base = "w" + std::to_string(w) + "/" + d + "/n";
      for (int n = 0; n < kLowerFiles; ++n) {
        lower.File(base + std::to_string(n), LowerContent(w, d, n));
      }
      lower.File(base + std::to_string(kLowerLink), LowerContent(w, d, kLowerLink));
      lower.Hardlink(base + std::to_string(kLowerLink + 1), base + std::to_string(kLowerLink));
    }
  }
  for (const char* d : {"upper", "work", "mnt"}) ASSERT_EQ(::mkdir((dir / d).c_str(), 0755), 0);
  std::string options = LowerdirOption({dir / "lower"}) + ",upperdir=" + (dir / "upper") +
                        ",workdir=" + (dir / "work");
  if (std::string(GetParam()) != "default") options += std::string(",") + GetParam();
  const std::vector<std::string> args = {"-o", options};
  const std::string mnt = dir / "mnt";

  std::vector<std::string> states(kWorkers);
  {
    std::optional<FuseUringEnabled> uring;
    if (std::string(GetParam()) == "io_uring") {
      if (DaemonLibfuseMinor() < 18) GTEST_SKIP() << "libfuse before 3.18 has no io_uring";
      uring.emplace();
      ASSERT_TRUE(uring->ok()) << uring->error();
    }
    StrataMount strata(args, mnt);
    ASSERT_TRUE(strata.ok()) << strata.error();
    if (uring) {
      ASSERT_TRUE(HoldsIoUring(strata.pid())) << "the daemon serves over /dev/fuse";
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(Seconds());
    std::vector<pid_t> pids;
    for (int w = 0; w < kWorkers; ++w) {
      pids.push_back(Fork(dir / ("result" + std::to_string(w)), [&, w] {
        Worker worker(w, mnt);
        std::string failure = worker.Run(deadline);
        std::ofstream(dir / ("state" + std::to_string(w))) << worker.State();
        std::ofstream(dir / ("ops" + std::to_string(w))) << worker.ops();
        return failure;
      }));
    }
    for (int l = 0; l < kListers; ++l) {
      pids.push_back(Fork(dir / ("lister" + std::to_string(l)), [&, l] {
        Lister(mnt, 1000 + l, deadline);
        return std::string();
      }));
    }
    // Every child ends by its deadline; one that hangs is killed (by pid) after a grace time.
    const auto grace = deadline + std::chrono::seconds(60);
    for (pid_t pid : pids) {
      int status = 0;
      while (::waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > grace) {
          ::kill(pid, SIGKILL);
          ::waitpid(pid, &status, 0);
          ADD_FAILURE() << "a test process hung (killed)";
          break;
        }
        ::usleep(20000);
      }
    }
    int total_ops = 0;
    for (int w = 0; w < kWorkers; ++w) {
      EXPECT_EQ(Slurp(dir / ("result" + std::to_string(w))), "");
      states[w] = Slurp(dir / ("state" + std::to_string(w)));
      total_ops += std::atoi(Slurp(dir / ("ops" + std::to_string(w))).c_str());
    }
    std::printf("%s: %d checked operations by %d workers, %d listers, %d s\n", GetParam(),
                total_ops, kWorkers, kListers, Seconds());
    EXPECT_GT(total_ops, kWorkers * 10);
    if (HasFailure()) std::ofstream("/tmp/stratafs-debug.log") << strata.Stderr();
    EXPECT_EQ(strata.Stop(), 0) << strata.Stderr();
  }
  if (HasFailure()) return;
  // What the workers believe is what the upper layer holds.
  StrataMount again(args, mnt);
  ASSERT_TRUE(again.ok()) << again.error();
  for (int w = 0; w < kWorkers; ++w) {
    EXPECT_EQ(StateOnDisk(mnt, w), states[w]) << "worker " << w << " after remount";
  }
  EXPECT_EQ(again.Stop(), 0) << again.Stderr();
  // Nothing of the unlinked-but-open files is left in the workdir.
  DIR* work = ::opendir((dir / "work/work").c_str());
  ASSERT_NE(work, nullptr);
  int left = 0;
  while (const struct dirent* de = ::readdir(work)) {
    left += std::string(de->d_name) != "." && std::string(de->d_name) != "..";
  }
  ::closedir(work);
  EXPECT_EQ(left, 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, ConcurrencyTest,
                         ::testing::Values("default", "passthrough=0", "writeback=1", "io_uring",
                                           "dir_fds=8", "max_nodes=16"),
                         [](const auto& info) { return ModeName(info.param); });

}  // namespace
}  // namespace strata::testing
