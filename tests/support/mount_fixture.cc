#include "tests/support/mount_fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "fs/base/mount_table.h"
#include "fs/base/unique_fd.h"

namespace strata::testing {
namespace {

using Clock = std::chrono::steady_clock;

void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

std::string RealPath(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) ? std::string(buf) : path;
}

// Waits up to TIMEOUT_MS for PID; returns its exit code, -1 if signalled, -2 if still running.
int WaitPid(pid_t pid, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFSIGNALED(status))
        std::fprintf(stderr, "pid %d killed by signal %d\n", pid, WTERMSIG(status));
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    if (r < 0) return -1;
    if (Clock::now() >= deadline) return -2;
    SleepMs(5);
  }
}

pid_t Spawn(const std::vector<std::string>& argv, int out_fd, int err_fd) {
  std::vector<char*> cargv;
  for (const std::string& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, STDIN_FILENO);
    ::dup2(out_fd >= 0 ? out_fd : devnull, STDOUT_FILENO);
    ::dup2(err_fd >= 0 ? err_fd : devnull, STDERR_FILENO);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  return pid;
}

std::string MountFsType(const std::string& path) {
  const std::string real = RealPath(path);
  std::string found;
  for (const MountEntry& m : ReadMountTable()) {
    if (m.point == real) found = m.fstype;  // the last match is the topmost mount
  }
  return found;
}

}  // namespace

int TraceRequests(const std::string& trace, size_t from, const std::string& opcode) {
  const std::string needle = "opcode: " + opcode + " (";
  int n = 0;
  for (size_t at = trace.find(needle, from); at != std::string::npos;
       at = trace.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

std::string PreadAll(int fd) {
  std::string out;
  char buf[65536];
  for (off_t off = 0;;) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    off += n;
  }
  return out;
}

std::string MountUnavailableReason() {
  if (::geteuid() != 0) return "integration tests mount filesystems and need root";
  UniqueFd fd(::open("/dev/fuse", O_RDWR | O_CLOEXEC));
  if (!fd) return std::string("/dev/fuse is not usable: ") + std::strerror(errno);
  return "";
}

bool IsMountPoint(const std::string& path) { return !MountFsType(path).empty(); }

bool WaitForMount(const std::string& path, bool mounted, int timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (IsMountPoint(path) != mounted) {
    if (Clock::now() >= deadline) return false;
    SleepMs(5);
  }
  return true;
}

CommandResult RunCommand(const std::vector<std::string>& argv, int timeout_ms) {
  UniqueFd out(::memfd_create("out", MFD_CLOEXEC)), err(::memfd_create("err", MFD_CLOEXEC));
  CommandResult result;
  pid_t pid = Spawn(argv, out.Get(), err.Get());
  if (pid < 0) return result;
  result.exit_code = WaitPid(pid, timeout_ms);
  if (result.exit_code == -2) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    result.exit_code = -1;
    result.err = "timed out\n";
  }
  result.out = PreadAll(out.Get());
  result.err += PreadAll(err.Get());
  return result;
}

bool Unmount(const std::string& path) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    if (!IsMountPoint(path)) return true;
    if (::umount2(path.c_str(), 0) == 0) return true;
    if (errno != EBUSY) break;
    SleepMs(100);
  }
  if (IsMountPoint(path)) ::umount2(path.c_str(), MNT_DETACH);
  return !IsMountPoint(path);
}

std::string LowerdirOption(const std::vector<std::string>& layers) {
  std::string out = "lowerdir=";
  for (size_t i = 0; i < layers.size(); ++i) {
    if (i) out += ":";
    for (char c : layers[i]) {
      if (c == ':' || c == '\\' || c == ',') out += '\\';
      out += c;
    }
  }
  return out;
}

namespace {

// STRATAFS_WRAPPER="valgrind -q" runs the daemon under a tool (debugging aid).
std::vector<std::string> WrapperFromEnv() {
  std::vector<std::string> argv;
  if (const char* wrapper = std::getenv("STRATAFS_WRAPPER")) {
    std::istringstream words(wrapper);
    for (std::string w; words >> w;) argv.push_back(w);
  }
  return argv;
}

}  // namespace

std::string DaemonUnderTest() {
  const char* path = std::getenv("STRATA_TEST_STRATAFS");
  return path != nullptr && *path != '\0' ? path : STRATAFS_PATH;
}

StrataMount::StrataMount(std::vector<std::string> args, std::string mountpoint)
    : StrataMount(WrapperFromEnv(), DaemonUnderTest(), std::move(args), std::move(mountpoint)) {}

StrataMount::StrataMount(std::vector<std::string> prefix, const std::string& binary,
                         std::vector<std::string> args, std::string mountpoint)
    : mountpoint_(std::move(mountpoint)) {
  stderr_fd_ = ::memfd_create("stratafs-err", MFD_CLOEXEC);
  std::vector<std::string> argv = std::move(prefix);
  argv.push_back(binary);
  argv.push_back("-f");
  argv.insert(argv.end(), args.begin(), args.end());
  if (const std::string extra = ExtraMountOptions(); !extra.empty()) {
    argv.push_back("-o");
    argv.push_back(extra);
  }
  argv.push_back(mountpoint_);
  if (!argv.empty() && argv[0][0] != '/') argv[0] = "/usr/bin/" + argv[0];
  pid_ = Spawn(argv, -1, stderr_fd_);
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  for (;;) {
    if (MountFsType(mountpoint_) == "fuse.stratafs") {
      ok_ = true;
      break;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      pid_ = -1;
      error_ = "stratafs exited (" + std::to_string(exit_code_) + "): " + Stderr();
      return;
    }
    if (Clock::now() >= deadline) {
      error_ = "mount did not appear within 30 s: " + Stderr();
      Stop();
      return;
    }
    SleepMs(5);
  }
}

int StrataMount::Stop() {
  if (pid_ < 0) return exit_code_;
  Unmount(mountpoint_);
  exit_code_ = WaitPid(pid_, 10000);
  if (exit_code_ == -2) {
    ::kill(pid_, SIGKILL);  // our own child, by pid
    ::waitpid(pid_, nullptr, 0);
    exit_code_ = -1;
    Unmount(mountpoint_);
  }
  pid_ = -1;
  return exit_code_;
}

std::string StrataMount::Stderr() const { return PreadAll(stderr_fd_); }

StrataMount::~StrataMount() {
  Stop();
  ::close(stderr_fd_);
}

KernelOverlay::KernelOverlay(const std::vector<std::string>& lowerdirs, std::string mountpoint)
    : mountpoint_(std::move(mountpoint)) {
  const std::string data = LowerdirOption(lowerdirs);
  if (::mount("overlay", mountpoint_.c_str(), "overlay", MS_RDONLY, data.c_str()) != 0) {
    error_ = std::string("mount overlay: ") + std::strerror(errno);
    return;
  }
  ok_ = true;
}

KernelOverlay::KernelOverlay(const std::string& data, std::string mountpoint)
    : mountpoint_(std::move(mountpoint)) {
  // EBUSY: the upper or work directory is still marked in use by an overlay mount of it that
  // was just unmounted (the mark goes with its superblock, which a loaded machine may release
  // a moment later). Retried for up to 5 s.
  for (int attempt = 0;; ++attempt) {
    if (::mount("overlay", mountpoint_.c_str(), "overlay", 0, data.c_str()) == 0) break;
    if (errno != EBUSY || attempt == 50) {
      error_ = std::string("mount overlay (") + data + "): " + std::strerror(errno);
      return;
    }
    SleepMs(100);
  }
  ok_ = true;
}

KernelOverlay::~KernelOverlay() {
  if (ok_) Unmount(mountpoint_);
}

TmpfsMount::TmpfsMount(std::string mountpoint, const std::string& options)
    : mountpoint_(std::move(mountpoint)) {
  ::mkdir(mountpoint_.c_str(), 0755);
  const std::string data = "mode=0755" + (options.empty() ? "" : "," + options);
  ok_ = ::mount("tmpfs", mountpoint_.c_str(), "tmpfs", 0, data.c_str()) == 0;
}

TmpfsMount::~TmpfsMount() {
  if (ok_) Unmount(mountpoint_);
}

KernelParam::KernelParam(std::string path, const std::string& value) : path_(std::move(path)) {
  if (!(std::ifstream(path_) >> before_)) return;
  std::ofstream out(path_);
  out << value << "\n";
  out.flush();
  ok_ = static_cast<bool>(out);
}

KernelParam::~KernelParam() {
  // A boolean module parameter reads back as Y or N, which it also accepts.
  if (ok_) std::ofstream(path_) << before_ << "\n";
}

namespace {
constexpr const char* kEnableUring = "/sys/module/fuse/parameters/enable_uring";
}  // namespace

FuseUringEnabled::FuseUringEnabled() : param_(kEnableUring, "1") {
  if (param_.ok()) return;
  error_ = ::access(kEnableUring, F_OK) != 0
               ? std::string(kEnableUring) + " is missing: this kernel has no FUSE over io_uring"
               : std::string("cannot write 1 to ") + kEnableUring;
}

bool HoldsIoUring(pid_t pid, int timeout_ms) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  do {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      std::error_code link_ec;
      const std::string target = std::filesystem::read_symlink(e.path(), link_ec).string();
      if (target.find("io_uring") != std::string::npos) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

std::string ExtraMountOptions() {
  const char* extra = std::getenv("STRATA_TEST_MOUNT_OPTIONS");
  return extra ? extra : "";
}

bool ExtraModeHas(const std::string& option) {
  const std::string extra = "," + ExtraMountOptions() + ",";
  return extra.find("," + option + ",") != std::string::npos;
}

std::string ModeName(const std::string& mode) {
  if (mode == "default") return "Default";
  if (mode == "writeback=1") return "Writeback";
  if (mode == "io_uring") return "IoUring";
  if (mode == "passthrough=0") return "Cached";
  if (mode == "metacopy=on") return "Metacopy";
  if (mode == "dir_fds=8") return "FewDirFds";
  if (mode == "max_nodes=16") return "FewNodes";
  return "Other";
}

int DaemonLibfuseMinor() {
  const CommandResult r = RunCommand({DaemonUnderTest(), "--version"}, 20000);
  const std::string prefix = "FUSE library version 3.";
  const size_t at = r.out.find(prefix);
  return at == std::string::npos ? 0 : std::atoi(r.out.c_str() + at + prefix.size());
}

}  // namespace strata::testing
