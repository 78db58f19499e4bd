#include "bench/engine/system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include "fs/base/mount_table.h"
#include "fs/base/unique_fd.h"

namespace strata::bench {
namespace {

std::vector<char*> Argv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const std::string& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

Status RemoveAt(int dirfd, const char* name, dev_t dev) {
  struct stat st;
  if (::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Ok() : FailErrno(std::string("stat ") + name);
  }
  if (S_ISDIR(st.st_mode)) {
    if (st.st_dev != dev) return Fail(EXDEV, std::string("a mount inside: ") + name);
    UniqueFd fd(::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return FailErrno(std::string("open ") + name);
    DIR* d = ::fdopendir(fd.Get());
    if (d == nullptr) return FailErrno("fdopendir");
    fd.Release();
    std::vector<std::string> names;
    while (const struct dirent* de = ::readdir(d)) {
      if (std::strcmp(de->d_name, ".") != 0 && std::strcmp(de->d_name, "..") != 0) {
        names.emplace_back(de->d_name);
      }
    }
    Status s = Ok();
    for (const std::string& n : names) {
      if (s) s = RemoveAt(::dirfd(d), n.c_str(), dev);
    }
    ::closedir(d);
    if (!s) return s;
    if (::unlinkat(dirfd, name, AT_REMOVEDIR) != 0) return FailErrno(std::string("rmdir ") + name);
    return Ok();
  }
  if (::unlinkat(dirfd, name, 0) != 0) return FailErrno(std::string("unlink ") + name);
  return Ok();
}

}  // namespace

double Now() {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

Status RunCommand(const std::vector<std::string>& argv, std::string* out, const std::string& cwd) {
  // The output is always read: a failure's message ends with what the command said.
  std::string own;
  std::string* text = out != nullptr ? out : &own;
  int fds[2] = {-1, -1};
  if (::pipe2(fds, O_CLOEXEC) != 0) return FailErrno("pipe");
  auto args = Argv(argv);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return FailErrno("fork");
  }
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, STDIN_FILENO);
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) {
    // Only the start and the end of a long output matter for a message.
    if (out != nullptr || own.size() < (64 << 10)) text->append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  const int status = Wait(pid);
  if (status == 127) return Fail(ENOENT, argv[0] + ": not found");
  if (status != 0) {
    std::string said = *text;
    while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
    if (said.size() > 400) said = "..." + said.substr(said.size() - 400);
    return Fail(EIO, argv[0] + " exited with status " + std::to_string(status) +
                         (said.empty() ? "" : ": " + said));
  }
  return Ok();
}

pid_t Spawn(const std::vector<std::string>& argv) {
  auto args = Argv(argv);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

namespace {

std::string RealPath(const std::string& path) {
  char real[PATH_MAX];
  return ::realpath(path.c_str(), real) ? real : path;
}

}  // namespace

bool IsMounted(const std::string& path) {
  const std::string want = RealPath(path);
  for (const MountEntry& m : ReadMountTable()) {
    if (m.point == want) return true;
  }
  return false;
}

std::vector<std::string> MountsUnder(const std::string& dir) {
  return MountPointsUnder(RealPath(dir));
}

Status WaitForMount(const std::string& path, pid_t pid, double timeout_s) {
  const double deadline = Now() + timeout_s;
  while (!IsMounted(path)) {
    if (pid > 0) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        return Fail(EIO, "the filesystem daemon exited (" +
                             std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
                             ") before mounting " + path);
      }
    }
    if (Now() > deadline) return Fail(ETIMEDOUT, "no mount appeared at " + path);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return Ok();
}

Status Unmount(const std::string& path) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (::umount2(path.c_str(), 0) == 0) return Ok();
    if (errno == EINVAL || errno == ENOENT) return Ok();  // not mounted
    if (errno == EPERM) return RunCommand({"fusermount3", "-u", path});
    if (errno != EBUSY) return FailErrno("umount " + path);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (::umount2(path.c_str(), MNT_DETACH) != 0) return FailErrno("umount -l " + path);
  return Ok();
}

bool DropCaches() {
  ::sync();
  const int fd = ::open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, "3\n", 2) == 2;
  ::close(fd);
  return ok;
}

Status RemoveTree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT ? Ok() : FailErrno("stat " + path);
  return RemoveAt(AT_FDCWD, path.c_str(), st.st_dev);
}

Status MakeDirs(const std::string& path) {
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = path.find('/', pos + 1);
    const std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) return FailErrno("mkdir " + prefix);
  }
  return Ok();
}

Status WriteFile(const std::string& path, const std::string& data) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return FailErrno("create " + path);
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd.Get(), data.data() + done, data.size() - done);
    if (n <= 0) return FailErrno("write " + path);
    done += static_cast<size_t>(n);
  }
  return Ok();
}

Machine DescribeMachine(const std::string& work_dir) {
  Machine m;
  struct utsname u;
  if (::uname(&u) == 0) m.kernel = u.release;
  m.cpus = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      m.cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
#ifdef STRATA_LIBFUSE_VERSION
  m.libfuse = STRATA_LIBFUSE_VERSION;
#endif
  struct statfs sf;
  if (::statfs(work_dir.c_str(), &sf) == 0) {
    switch (static_cast<unsigned long>(sf.f_type)) {
      case 0xEF53:
        m.work_fs = "ext4";
        break;
      case 0x01021994:
        m.work_fs = "tmpfs";
        break;
      case 0x58465342:
        m.work_fs = "xfs";
        break;
      case 0x9123683E:
        m.work_fs = "btrfs";
        break;
      default: {
        char hex[32];
        std::snprintf(hex, sizeof hex, "0x%lx", static_cast<unsigned long>(sf.f_type));
        m.work_fs = hex;
      }
    }
  }
  // The mount holding WORK_DIR: the longest mount point that is a prefix of it.
  {
    const std::string real = RealPath(work_dir);
    size_t best = 0;
    for (const MountEntry& e : ReadMountTable()) {
      const bool holds = real == e.point || e.point == "/" ||
                         real.rfind(e.point + "/", 0) == 0;
      if (!holds || e.point.size() < best) continue;
      best = e.point.size();
      m.work_device = e.source;
    }
  }
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  m.date = date;
  return m;
}

}  // namespace strata::bench
