// Differential test of the writable layer: a seeded random stack (random_stack.h) gets one
// upper layer under kernel overlayfs (redirect_dir=on,index=on) and another under stratafs;
// the same seeded random sequence of mutating operations runs on both mounts. Every result
// (return value or errno, data read, directory listed) must match, and so must the final
// trees, before and after unmount + remount of both.
//
// Before a quarter of the operations, the mtimes of the path and its parent are pinned to a
// past value on both mounts; which of them the operation updated must match.
//
// A third of the operations run as unprivileged users (uid/gid 1000 or 1001), so permission
// checks (owner, group, other bits, sticky directories, setgid inheritance, chown/chmod
// rights) are compared with the kernel's too.
//
// Some operations hold descriptors across the others: a path is opened (read-only, read-write
// or appending) into one of a few slots, and later operations read, write, truncate, seek
// (SEEK_DATA/SEEK_HOLE), fstat, fsync and close through the slot at random offsets and sizes,
// while other operations copy the file up through another descriptor or another hard link,
// unlink it or rename over it. Kernel overlayfs gives every descriptor the current data and
// keeps unlinked files usable: so must stratafs.
//
// At the end each upper layer is stacked as the top lower layer of a read-only union, and
// each filesystem reads both its own and the other's: the on-disk formats are one.
// With STRATA_TEST_MOUNT_OPTIONS=metacopy=on, kernel overlayfs mounts with metacopy=on too.
//
// STRATA_WDIFF_SEEDS=N runs seeds 1..N (default 60); STRATA_WDIFF_SEED=S runs only seed S;
// STRATA_WDIFF_TRACE=1 prints every operation and both results.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <random>
#include <set>

#include "tests/support/mount_fixture.h"
#include "tests/support/random_stack.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tree_dump.h"

namespace strata::testing {
namespace {

struct Mutation {
  enum Kind {
    kWriteNew,
    kAppend,
    kPwrite,
    kTruncate,
    kMkdir,
    kRmdir,
    kUnlink,
    kRename,
    kSymlink,
    kLink,
    kChmod,
    kChown,
    kUtimes,
    kSetXattr,
    kRemoveXattr,
    kMkfifo,
    kRead,
    kList,
    kHoldOpen,  // open PATH into SLOT (closing what it held)
    kHeldRead,  // pread through a slot
    kHeldWrite,
    kHeldTruncate,
    kHeldSeek,  // lseek SEEK_DATA or SEEK_HOLE
    kHeldStat,
    kHeldSync,
    kHeldClose,
    kCount
  } kind;
  std::string path, path2;
  std::string data;
  unsigned flags = 0;
  mode_t mode = 0;
  int64_t number = 0;
  uid_t uid = 0;       // who does it (0: root)
  bool timed = false;  // compare which mtimes the operation updates
  size_t slot = 0;     // the held descriptor a kHold*/kHeld* operation uses
};

const char* KindName(Mutation::Kind k) {
  static const char* names[] = {
      "write-new", "append",    "pwrite",      "truncate",      "mkdir",     "rmdir",
      "unlink",    "rename",    "symlink",     "link",          "chmod",     "chown",
      "utimes",    "setxattr",  "removexattr", "mkfifo",        "read",      "list",
      "hold-open", "held-read", "held-write",  "held-truncate", "held-seek", "held-stat",
      "held-sync", "held-close"};
  static_assert(sizeof names / sizeof names[0] == Mutation::kCount);
  return names[k];
}

constexpr size_t kSlots = 4;

std::string RandomPath(std::mt19937_64& rng) {
  std::string path;
  const int depth = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < depth; ++i) path += (i ? "/" : "") + std::string(kNames[rng() % 5]);
  return path;
}

// The regular files of TREE (paths without the leading '/'), each with its other hard links.
std::map<std::string, std::vector<std::string>> FilesOf(const Tree& tree) {
  std::map<uint64_t, std::vector<std::string>> by_ino;
  for (const auto& [path, e] : tree) {
    if (e.type == 'f') by_ino[e.ino].push_back(path.substr(1));
  }
  std::map<std::string, std::vector<std::string>> files;
  for (const auto& [ino, names] : by_ino) {
    for (const std::string& name : names) {
      auto& others = files[name];
      for (const std::string& other : names) {
        if (other != name) others.push_back(other);
      }
    }
  }
  return files;
}

template <typename T>
const T& Pick(std::mt19937_64& rng, const std::vector<T>& from) {
  return from[rng() % from.size()];
}

// COUNT operations drawn from SEED. Descriptors are mostly opened on the layers' FILES, and
// later operations often name a held file (or another hard link of it), so copy-up, unlink
// and rename over held files happen often.
std::vector<Mutation> PlanMutations(uint64_t seed, int count,
                                    const std::map<std::string, std::vector<std::string>>& files) {
  std::mt19937_64 rng(seed * 7919 + 17);
  std::vector<std::string> file_names;
  for (const auto& [name, links] : files) file_names.push_back(name);
  std::vector<std::string> held;  // paths opened into slots so far
  std::vector<size_t> slots;      // slots opened so far
  auto near_held = [&]() -> std::string {
    const std::string& path = Pick(rng, held);
    auto it = files.find(path);
    if (it != files.end() && !it->second.empty() && rng() % 2) return Pick(rng, it->second);
    return path;
  };
  std::vector<Mutation> out;
  for (int i = 0; i < count; ++i) {
    Mutation m;
    m.kind = static_cast<Mutation::Kind>(rng() % Mutation::kCount);
    m.path = RandomPath(rng);
    m.path2 = RandomPath(rng);
    const size_t size = rng() % 3 == 0 ? 70000 : rng() % 200;
    for (size_t b = 0; b < size; ++b) m.data.push_back(static_cast<char>('a' + rng() % 26));
    const unsigned rename_flags[] = {0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE};
    m.flags = rename_flags[rng() % 4];
    const mode_t modes[] = {0644, 0600, 0755, 04755, 0444, 01777};
    m.mode = modes[rng() % 6];
    m.number = static_cast<int64_t>(rng() % 100000);
    const uid_t users[] = {0, 0, 0, 0, 1000, 1001};
    m.uid = users[rng() % 6];
    // Users mostly work on names of their own in the sticky root ("u0".."u3").
    if (m.uid != 0 && rng() % 2) m.path = "u" + std::to_string(rng() % 4);
    if (m.uid != 0 && rng() % 2) m.path2 = "u" + std::to_string(rng() % 4);
    m.timed = rng() % 4 == 0;
    if (m.kind == Mutation::kHoldOpen && !file_names.empty() && rng() % 4) {
      m.path = Pick(rng, file_names);
    } else if (m.kind < Mutation::kHoldOpen && !held.empty()) {
      if (rng() % 2) m.path = near_held();
      if (rng() % 4 == 0) m.path2 = near_held();
    }
    if (m.kind == Mutation::kHoldOpen) {
      m.slot = rng() % kSlots;
      held.push_back(m.path);
      slots.push_back(m.slot);
    } else {
      m.slot = slots.empty() || rng() % 8 == 0 ? rng() % kSlots
               : rng() % 2                     ? slots.back()
                                               : Pick(rng, slots);
    }
    if (m.kind >= Mutation::kHoldOpen) {
      // Descriptors are held by the test process (root); offsets reach past the files' ends
      // (the sparse ones are 3 MiB) so reads are short and writes grow the file.
      m.uid = 0;
      m.timed = false;
      m.flags = static_cast<unsigned>(rng() % 4);  // open mode; seek: DATA or HOLE
      m.number = static_cast<int64_t>(rng() % (4 << 20));
      if (rng() % 2) m.number %= 300;
    }
    out.push_back(std::move(m));
  }
  return out;
}

std::string Errno(int rc) { return rc == 0 ? "ok" : std::string("errno ") + std::to_string(errno); }

// One mount under test and the descriptors the test holds open on it.
struct Side {
  std::string root;
  int held[kSlots] = {-1, -1, -1, -1};
  // Kernel overlayfs in metacopy mode: an open for writing that completes a metacopy file
  // (copies its data up) gives it a new mtime there; stratafs keeps the mtime, as every other
  // copy-up does (README). This side undoes the kernel's change right after such an open.
  bool keep_mtime_at_open = false;

  explicit Side(std::string r) : root(std::move(r)) {}
  ~Side() { CloseAll(); }
  void CloseAll() {
    for (int& fd : held) {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
  }
};

std::string HashOf(const std::string& data) {
  return std::to_string(data.size()) + " bytes, hash " +
         std::to_string(std::hash<std::string>{}(data));
}

// The whole content of the file open as FD (read through a new read-only descriptor of it).
std::string ContentOf(int fd) {
  const int rd = ::open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_RDONLY | O_CLOEXEC);
  if (rd < 0) return "";
  std::string content;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(rd, buf, sizeof buf)) > 0) content.append(buf, static_cast<size_t>(n));
  ::close(rd);
  return content;
}

// Whether lseek(FD, OFF, SEEK_HOLE or SEEK_DATA) answering R (or -errno) is right for the
// file's data: a hole reads as zeros, and the end of the file is a hole.
std::string SeekAgreesWithData(int fd, off_t off, bool hole, off_t r) {
  const std::string data = ContentOf(fd);
  const off_t size = static_cast<off_t>(data.size());
  auto zeros = [&](off_t from, off_t to) {
    return std::all_of(data.begin() + from, data.begin() + to, [](char c) { return c == 0; });
  };
  if (off >= size) return r == -ENXIO ? "past the end" : "wrong: " + std::to_string(r);
  if (r == -ENXIO) return !hole && zeros(off, size) ? "agrees" : "wrong: ENXIO";
  if (r < off || r > size) return "wrong: " + std::to_string(r);
  // SEEK_DATA skips only zeros; SEEK_HOLE lands on a zero or the end.
  if (!hole) return zeros(off, r) && r < size ? "agrees" : "wrong: " + std::to_string(r);
  return r == size || data[static_cast<size_t>(r)] == 0 ? "agrees" : "wrong: " + std::to_string(r);
}

// The operations through a held descriptor.
std::string ApplyHeld(Side& side, const Mutation& m) {
  int& fd = side.held[m.slot];
  if (m.kind == Mutation::kHoldOpen) {
    if (fd >= 0) ::close(fd);
    // Read-only descriptors (which open no copy) half of the time.
    const int modes[] = {O_RDONLY, O_RDONLY, O_RDWR, O_WRONLY | O_APPEND};
    const std::string path = side.root + "/" + m.path;
    struct stat before, after;
    const bool known = side.keep_mtime_at_open && ::lstat(path.c_str(), &before) == 0 &&
                       S_ISREG(before.st_mode);
    fd = ::open(path.c_str(), modes[m.flags % 4] | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0 && known && (m.flags % 4) >= 2 && ::fstat(fd, &after) == 0 &&
        (after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
         after.st_mtim.tv_nsec != before.st_mtim.tv_nsec)) {
      const struct timespec times[2] = {{0, UTIME_OMIT}, before.st_mtim};
      ::futimens(fd, times);
    }
    return fd < 0 ? Errno(-1) : "ok";
  }
  if (fd < 0) return "no descriptor";
  const off_t off = static_cast<off_t>(m.number);
  switch (m.kind) {
    case Mutation::kHeldRead: {
      std::string buf(m.data.size() + 4096, '\0');
      const ssize_t n = ::pread(fd, buf.data(), buf.size(), off);
      if (n < 0) return Errno(-1);
      buf.resize(static_cast<size_t>(n));
      return "read " + HashOf(buf);
    }
    case Mutation::kHeldWrite: {
      const ssize_t n = ::pwrite(fd, m.data.data(), m.data.size(), off);
      return n < 0 ? Errno(-1) : "wrote " + std::to_string(n);
    }
    case Mutation::kHeldTruncate:
      return Errno(::ftruncate(fd, off));
    case Mutation::kHeldSeek: {
      // Directories' lseek is the kernel's own (FUSE and overlayfs differ there): files only.
      struct stat st;
      if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return "not a regular file";
      const bool hole = m.flags % 2;
      const off_t r = ::lseek(fd, off, hole ? SEEK_HOLE : SEEK_DATA);
      // Where holes are is the filesystem's choice (kernel overlayfs copies up in 1 MiB
      // chunks, stratafs keeps every hole): the answer must agree with the data, not with the
      // kernel's answer.
      return SeekAgreesWithData(fd, off, hole, r < 0 ? -errno : r);
    }
    case Mutation::kHeldStat: {
      struct stat st;
      if (::fstat(fd, &st) != 0) return Errno(-1);
      const std::string common = "fstat mode " + std::to_string(st.st_mode) + " owner " +
                                 std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid);
      // Directory sizes are the upper filesystem's, and their link counts a documented
      // difference (README): compared for everything else.
      if (S_ISDIR(st.st_mode)) return common;
      return common + " size " + std::to_string(st.st_size) + " nlink " +
             std::to_string(st.st_nlink);
    }
    case Mutation::kHeldSync:
      return Errno(::fsync(fd));
    case Mutation::kHeldClose: {
      const int rc = ::close(fd);
      fd = -1;
      return Errno(rc);
    }
    default:
      return "?";
  }
}

// True if the descriptor a held-stat of M names is open on a file whose name is gone.
bool HeldDeleted(const Side& side, const Mutation& m) {
  const int fd = side.held[m.slot];
  if (fd < 0) return false;
  char target[PATH_MAX];
  const ssize_t n =
      ::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), target, sizeof target - 1);
  return n > 0 && std::string_view(target, static_cast<size_t>(n)).ends_with(" (deleted)");
}

// Applies M under ROOT; returns what a caller observes.
std::string Apply(const std::string& root, const Mutation& m) {
  const std::string p = root + "/" + m.path;
  const std::string q = root + "/" + m.path2;
  switch (m.kind) {
    case Mutation::kWriteNew:
    case Mutation::kAppend:
    case Mutation::kPwrite: {
      const int flags = m.kind == Mutation::kWriteNew ? O_WRONLY | O_CREAT | O_TRUNC
                        : m.kind == Mutation::kAppend ? O_WRONLY | O_APPEND
                                                      : O_WRONLY;
      const int fd = ::open(p.c_str(), flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0640);
      if (fd < 0) return Errno(-1);
      const ssize_t n = m.kind == Mutation::kPwrite
                            ? ::pwrite(fd, m.data.data(), m.data.size(), 100)
                            : ::write(fd, m.data.data(), m.data.size());
      const std::string r = n < 0 ? Errno(-1) : "wrote " + std::to_string(n);
      ::close(fd);
      return r;
    }
    case Mutation::kTruncate:
      return Errno(::truncate(p.c_str(), m.number % 3 == 0 ? 0 : m.number));
    case Mutation::kMkdir:
      return Errno(::mkdir(p.c_str(), m.mode & 0777));
    case Mutation::kRmdir:
      return Errno(::rmdir(p.c_str()));
    case Mutation::kUnlink:
      return Errno(::unlink(p.c_str()));
    case Mutation::kRename:
      return Errno(::renameat2(AT_FDCWD, p.c_str(), AT_FDCWD, q.c_str(), m.flags));
    case Mutation::kSymlink:
      return Errno(::symlink(("../" + m.path2).c_str(), p.c_str()));
    case Mutation::kLink:
      return Errno(::link(p.c_str(), q.c_str()));
    case Mutation::kChmod:
      return Errno(::fchmodat(AT_FDCWD, p.c_str(), m.mode, 0));
    case Mutation::kChown:
      return Errno(::lchown(p.c_str(), 1000 + m.number % 2, 1000));
    case Mutation::kUtimes: {
      const struct timespec ts[2] = {{1400000000, 0}, {1400000000 + m.number, 123}};
      return Errno(::utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW));
    }
    case Mutation::kSetXattr:
      return Errno(
          ::lsetxattr(p.c_str(), "user.m", m.data.data(), std::min<size_t>(m.data.size(), 40), 0));
    case Mutation::kRemoveXattr:
      return Errno(::lremovexattr(p.c_str(), m.number % 2 ? "user.m" : "user.k1"));
    case Mutation::kMkfifo:
      return Errno(::mkfifo(p.c_str(), 0640));
    case Mutation::kRead: {
      const int fd = ::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) return Errno(-1);
      struct stat st;
      std::string content;
      if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        char buf[65536];
        ssize_t n;
        while ((n = ::read(fd, buf, sizeof buf)) > 0) content.append(buf, static_cast<size_t>(n));
        content = "read " + std::to_string(content.size()) + " bytes, hash " +
                  std::to_string(std::hash<std::string>{}(content));
      } else {
        content = "not a regular file";
      }
      ::close(fd);
      return content;
    }
    case Mutation::kList: {
      DIR* d = ::opendir(p.c_str());
      if (d == nullptr) return Errno(-1);
      std::set<std::string> names;
      // Kernel overlayfs lists a whiteout that hides nothing in a directory of one lower
      // layer, though no such name exists (lstat fails): not an entry.
      struct stat st;
      while (const struct dirent* de = ::readdir(d)) {
        if (::fstatat(::dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0)
          names.insert(de->d_name);
      }
      ::closedir(d);
      std::string out = "list";
      for (const auto& n : names) out += " " + n;
      return out;
    }
    default:
      break;
  }
  return "?";
}

constexpr time_t kPinned = 1000000000;

// Comparing a former upper layer stacked as a lower one: link counts are left out, because
// both filesystems keep their hard-link index in the workdir, which is not a layer.
constexpr CanonicalOptions kLowerView{.dir_nlink = false, .file_nlink = false, .dir_mtime = true};

std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

// Which of PATH's and its parent's mtimes are no longer the pinned value.
std::string Times(const std::string& root, const std::string& path) {
  std::string out = " times:";
  for (const std::string& rel : {Parent(path), path}) {
    struct stat st;
    const std::string full = rel.empty() ? root : root + "/" + rel;
    if (::lstat(full.c_str(), &st) != 0) {
      out += " -";
    } else {
      out += st.st_mtim.tv_sec == kPinned ? " kept" : " updated";
    }
  }
  return out;
}

std::string ApplyAsUser(const std::string& root, const Mutation& m);

// Applies M as its user; for a timed M, the mtimes of its path and parent are pinned to a
// past value first (as root) and the result says which the operation updated.
std::string ApplyAs(Side& side, const Mutation& m) {
  if (m.kind >= Mutation::kHoldOpen) return ApplyHeld(side, m);
  const std::string& root = side.root;
  if (m.timed) {
    const struct timespec ts[2] = {{0, UTIME_OMIT}, {kPinned, 0}};
    for (const std::string& rel : {Parent(m.path), m.path}) {
      const std::string full = rel.empty() ? root : root + "/" + rel;
      ::utimensat(AT_FDCWD, full.c_str(), ts, AT_SYMLINK_NOFOLLOW);
    }
  }
  std::string result = ApplyAsUser(root, m);
  if (m.timed) result += Times(root, m.path);
  return result;
}

// Apply as M's user: in a child process with that uid and gid (and no supplementary groups).
std::string ApplyAsUser(const std::string& root, const Mutation& m) {
  if (m.uid == 0) return Apply(root, m);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    if (::setgroups(0, nullptr) != 0 || ::setresgid(m.uid, m.uid, m.uid) != 0 ||
        ::setresuid(m.uid, m.uid, m.uid) != 0) {
      ::_exit(1);
    }
    const std::string result = Apply(root, m);
    (void)!::write(fds[1], result.data(), result.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string result;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) result.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "child failed";
  return result;
}

// Times set by the operations themselves differ between the two mounts: only times that
// existed before the test (from the layers, or set by kUtimes) are compared.
Tree WithoutRecentTimes(Tree tree, time_t since) {
  for (auto& [path, e] : tree) {
    if (e.mtime_sec >= since) e.mtime_sec = e.mtime_nsec = 0;
  }
  return tree;
}

class WriteDifferentialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
  }
};

TEST_F(WriteDifferentialTest, RandomMutationsMatchKernelOverlayfs) {
  int first = 1, last = 60;
  if (const char* n = std::getenv("STRATA_WDIFF_SEEDS")) last = std::atoi(n);
  if (const char* s = std::getenv("STRATA_WDIFF_SEED")) first = last = std::atoi(s);
  const bool trace = std::getenv("STRATA_WDIFF_TRACE") != nullptr;
  TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);  // the unprivileged users reach the mounts
  int compared = 0;
  for (int seed = first; seed <= last; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed) +
                 " (rerun: STRATA_WDIFF_SEED=" + std::to_string(seed) + " STRATA_WDIFF_TRACE=1)");
    const time_t start = std::time(nullptr) - 1;
    TmpfsMount tmp(dir / ("s" + std::to_string(seed)));
    ASSERT_TRUE(tmp.ok());
    const std::string t = tmp.path();
    const auto lowers = Write(Plan(static_cast<uint64_t>(seed)), Encoding::kKernel, t + "/lower");
    for (const char* d : {"/ku", "/kw", "/km", "/su", "/sw", "/sm", "/xm", "/ym"}) {
      ::mkdir((t + d).c_str(), 0755);
    }
    // The merged root shows the upper root: a sticky, world-writable one (as /tmp) lets the
    // unprivileged users create, and meet the sticky rules.
    for (const char* d : {"/ku", "/su"}) ::chmod((t + d).c_str(), 01777);
    // In metacopy mode both sides copy up metadata only where they can.
    const std::string metacopy = ExtraModeHas("metacopy=on") ? ",metacopy=on" : "";
    const std::string kernel_data = LowerdirOption(lowers) + ",upperdir=" + t + "/ku,workdir=" + t +
                                    "/kw,redirect_dir=on,index=on" + metacopy;
    const std::vector<std::string> strata_args = {
        "-o", LowerdirOption(lowers) + ",upperdir=" + t + "/su,workdir=" + t + "/sw"};

    if (trace)
      std::system(("cd " + t + "/lower && find . -type f -links +1 -printf '%i %n %p\\n' | sort -n")
                      .c_str());
    Tree kernel_tree, strata_tree;
    std::set<std::string> lower_links;  // hard links of the lower layers, as the test starts
    {
      KernelOverlay kernel(kernel_data, t + "/km");
      ASSERT_TRUE(kernel.ok()) << kernel.error();
      StrataMount strata(strata_args, t + "/sm");
      ASSERT_TRUE(strata.ok()) << strata.error();
      Side ks(t + "/km"), ss(t + "/sm");  // closed before the mounts go
      ks.keep_mtime_at_open = !metacopy.empty();
      // Descriptors are opened mostly on the files the merged tree starts with.
      const Tree initial = DumpTree(t + "/km", /*skip_phantoms=*/true);
      std::set<uint64_t> lower_link_inos;
      for (const auto& [path, e] : initial) {
        if (e.type != 'd' && e.nlink > 1) lower_link_inos.insert(e.ino);
      }
      const auto mutations = PlanMutations(static_cast<uint64_t>(seed), 120, FilesOf(initial));
      for (size_t i = 0; i < mutations.size(); ++i) {
        const Mutation& m = mutations[i];
        std::string want = ApplyAs(ks, m);
        const std::string got = ApplyAs(ss, m);
        // The one difference on purpose: fstat of a lower file whose only name was removed
        // shows st_nlink 0 on stratafs (as on ext4); kernel overlayfs shows the lower file's 1.
        if (m.kind == Mutation::kHeldStat && got != want && want.ends_with(" nlink 1") &&
            got.ends_with(" nlink 0") && HeldDeleted(ks, m) && HeldDeleted(ss, m)) {
          want.back() = '0';
        }
        const std::string what =
            "#" + std::to_string(i) + " uid " + std::to_string(m.uid) + " " + KindName(m.kind) +
            " " + m.path +
            (m.kind == Mutation::kRename || m.kind == Mutation::kLink
                 ? " -> " + m.path2 + " flags " + std::to_string(m.flags)
                 : "") +
            (m.kind >= Mutation::kHoldOpen
                 ? " slot " + std::to_string(m.slot) + " at " + std::to_string(m.number) +
                       " mode/whence " + std::to_string(m.flags)
                 : "");
        if (trace)
          std::printf("%s: kernel %s, stratafs %s\n", what.c_str(), want.c_str(), got.c_str());
        if (trace && got != want) {  // debugging aid: the layers as they are now
          std::system(
              ("cd " + t + " && ls -laR lower su ku && getfattr -R -d -m - su lower").c_str());
        }
        ASSERT_EQ(got, want) << what;
      }
      ks.CloseAll();
      ss.CloseAll();
      kernel_tree = DumpTree(t + "/km", /*skip_phantoms=*/true);
      strata_tree = DumpTree(t + "/sm");
      for (const auto& [path, e] : kernel_tree) {  // wherever they were moved meanwhile
        if (e.type != 'd' && lower_link_inos.count(e.ino)) lower_links.insert(path);
      }
      EXPECT_EQ(DiffLines(Canonical(WithoutRecentTimes(kernel_tree, start)),
                          Canonical(WithoutRecentTimes(strata_tree, start))),
                "");
      EXPECT_EQ(CheckInodes(strata_tree, kernel_tree), "");
      EXPECT_EQ(strata.Stop(), 0) << strata.Stderr();
    }
    // The upper layers as written must give the same trees again.
    {
      KernelOverlay kernel(kernel_data, t + "/km");
      ASSERT_TRUE(kernel.ok()) << kernel.error();
      StrataMount strata(strata_args, t + "/sm");
      ASSERT_TRUE(strata.ok()) << strata.error();
      const Tree kernel_again = DumpTree(t + "/km", /*skip_phantoms=*/true);
      const Tree strata_again = DumpTree(t + "/sm");
      EXPECT_EQ(DiffLines(Canonical(WithoutRecentTimes(kernel_again, start)),
                          Canonical(WithoutRecentTimes(strata_again, start))),
                "")
          << "after remount";
      EXPECT_EQ(DiffLines(Canonical(strata_tree), Canonical(strata_again)), "")
          << "stratafs after remount vs before";
      EXPECT_EQ(CheckInodes(strata_again, kernel_again), "") << "after remount";
      EXPECT_EQ(strata.Stop(), 0) << strata.Stderr();
    }
    // Each upper layer stacked as the top lower layer of a read-only union (as an image
    // build commits a container's layer): stratafs reads its former upper as kernel overlayfs
    // reads its own, redirects, opaque directories and whiteouts in every layer.
    {
      std::vector<std::string> kernel_stack = lowers, strata_stack = lowers;
      kernel_stack.insert(kernel_stack.begin(), t + "/ku");
      strata_stack.insert(strata_stack.begin(), t + "/su");
      KernelOverlay kernel(LowerdirOption(kernel_stack) + ",redirect_dir=follow" + metacopy,
                           t + "/km");
      ASSERT_TRUE(kernel.ok()) << kernel.error();
      StrataMount strata({"-o", LowerdirOption(strata_stack)}, t + "/sm");
      ASSERT_TRUE(strata.ok()) << strata.error();
      // And each reads the other's upper layer as its writer does: the formats are one.
      KernelOverlay cross(LowerdirOption(strata_stack) + ",redirect_dir=follow" + metacopy,
                          t + "/xm");
      ASSERT_TRUE(cross.ok()) << cross.error();
      StrataMount strata_cross({"-o", LowerdirOption(kernel_stack)}, t + "/ym");
      ASSERT_TRUE(strata_cross.ok()) << strata_cross.error();
      // Hard links of the lower layers are left out: which of their names holds the copy
      // differs (stratafs cannot know which name an attribute change came through) and the
      // others reach it only through the index, which is not a layer.
      Tree kernel_lower = DumpTree(t + "/km", /*skip_phantoms=*/true);
      Tree strata_lower = DumpTree(t + "/sm");
      Tree cross_lower = DumpTree(t + "/xm", /*skip_phantoms=*/true);
      Tree strata_cross_lower = DumpTree(t + "/ym");
      for (const std::string& path : lower_links) {
        for (Tree* tree : {&kernel_lower, &strata_lower, &cross_lower, &strata_cross_lower}) {
          tree->erase(path);
        }
      }
      EXPECT_EQ(DiffLines(Canonical(WithoutRecentTimes(kernel_lower, start), kLowerView),
                          Canonical(WithoutRecentTimes(strata_lower, start), kLowerView)),
                "")
          << "the upper layers stacked as lower layers";
      EXPECT_EQ(DiffLines(Canonical(WithoutRecentTimes(cross_lower, start), kLowerView),
                          Canonical(WithoutRecentTimes(strata_lower, start), kLowerView)),
                "")
          << "stratafs's upper layer stacked as a lower one, read by kernel overlayfs";
      EXPECT_EQ(DiffLines(Canonical(WithoutRecentTimes(kernel_lower, start), kLowerView),
                          Canonical(WithoutRecentTimes(strata_cross_lower, start), kLowerView)),
                "")
          << "kernel overlayfs's upper layer stacked as a lower one, read by stratafs";
      EXPECT_EQ(strata_cross.Stop(), 0) << strata_cross.Stderr();
      if (trace && HasFailure()) {  // debugging aid: the layers as they are now
        std::system(("cd " + t + " && ls -laiR lower su ku && getfattr -R -d -m - su ku").c_str());
      }
      EXPECT_EQ(strata.Stop(), 0) << strata.Stderr();
    }
    ++compared;
    if (HasFailure()) break;  // one seed's report is enough to debug
  }
  EXPECT_GT(compared, 0);
  std::printf("compared %d mutated stacks with kernel overlayfs\n", compared);
}

}  // namespace
}  // namespace strata::testing
