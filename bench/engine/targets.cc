#include "bench/engine/targets.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "bench/engine/system.h"

namespace strata::bench {
namespace {

// "A:B:C" with ':' and '\' escaped, as stratafs, fuse-overlayfs and the kernel read it.
std::string LowerList(const std::vector<std::string>& lowers) {
  std::string out;
  for (size_t i = 0; i < lowers.size(); ++i) {
    if (i) out += ':';
    for (char c : lowers[i]) {
      if (c == ':' || c == '\\' || c == ',') out += '\\';
      out += c;
    }
  }
  return out;
}

// The directory all of PATHS are in, or "".
std::string CommonParent(const std::vector<std::string>& paths) {
  std::string parent;
  for (const std::string& p : paths) {
    const std::string dir = p.substr(0, p.rfind('/'));
    if (parent.empty()) parent = dir;
    if (dir != parent || p.find(':') != std::string::npos) return "";
  }
  return parent;
}

// mount(2) of kernel overlayfs; with many layers, in a child that works in the layers' parent
// so the option string (one page at most) names them relatively.
Status MountKernel(const MountRequest& r, const std::string& options) {
  const std::vector<std::string>& lowers = r.layers->lowers;
  const std::string parent = CommonParent(lowers);
  std::vector<std::string> short_lowers;
  for (const std::string& l : lowers) {
    short_lowers.push_back(parent.empty() ? l : l.substr(parent.size() + 1));
  }
  const std::string data = "lowerdir=" + LowerList(short_lowers) + ",upperdir=" + r.upper +
                           ",workdir=" + r.work + ",redirect_dir=on,index=on" +
                           (options.empty() ? "" : "," + options);
  const pid_t pid = ::fork();
  if (pid < 0) return FailErrno("fork");
  if (pid == 0) {
    if (!parent.empty() && ::chdir(parent.c_str()) != 0) ::_exit(errno);
    ::_exit(::mount("overlay", r.mountpoint.c_str(), "overlay", 0, data.c_str()) == 0 ? 0
                                                                                      : errno);
  }
  const int err = Wait(pid);
  if (err != 0) return Fail(err < 0 ? EIO : err, "mount overlay on " + r.mountpoint);
  return Ok();
}

}  // namespace

std::string Unavailable(const TargetSpec& spec) {
  switch (spec.kind) {
    case TargetKind::kNative:
      return "";
    case TargetKind::kKernel:
      return ::geteuid() == 0 ? "" : "mounting kernel overlayfs needs root";
    case TargetKind::kStratafs:
    case TargetKind::kFuseCompatible: {
      if (::access(spec.binary.c_str(), X_OK) != 0) return spec.binary + " is not installed";
      const int fd = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
      if (fd < 0) return "/dev/fuse is not usable";
      ::close(fd);
      return "";
    }
  }
  return "unknown target";
}

Result<std::unique_ptr<Mounted>> MountTarget(const TargetSpec& spec, const MountRequest& r) {
  switch (spec.kind) {
    case TargetKind::kNative:
      return std::make_unique<Mounted>(r.native_root, "", -1);
    case TargetKind::kKernel:
      STRATA_RETURN_IF_ERROR(MountKernel(r, spec.options));
      return std::make_unique<Mounted>(r.mountpoint, r.mountpoint, -1);
    case TargetKind::kStratafs:
    case TargetKind::kFuseCompatible: {
      std::string options = "lowerdir=" + LowerList(r.layers->lowers) + ",upperdir=" + r.upper +
                            ",workdir=" + r.work;
      if (!spec.options.empty()) options += "," + spec.options;
      const pid_t pid = Spawn({spec.binary, "-f", "-o", options, r.mountpoint});
      if (pid < 0) return FailErrno("start " + spec.binary);
      if (Status s = WaitForMount(r.mountpoint, pid, 30); !s) {
        ::kill(pid, SIGKILL);  // our own child
        Wait(pid);
        return Unexpected{s.error()};
      }
      return std::make_unique<Mounted>(r.mountpoint, r.mountpoint, pid);
    }
  }
  return Fail(EINVAL, "unknown target");
}

uint64_t Mounted::DaemonPeakRssKib() const {
  if (daemon_ <= 0) return 0;
  std::ifstream status("/proc/" + std::to_string(daemon_) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

Status Mounted::Close() {
  if (mountpoint_.empty()) return Ok();
  const std::string path = std::move(mountpoint_);
  mountpoint_.clear();
  Status s = Unmount(path);
  if (daemon_ > 0) {
    // The daemon ends with its mount; one that does not within 10 s is killed (our child).
    const double deadline = Now() + 10;
    int status = 0;
    while (::waitpid(daemon_, &status, WNOHANG) == 0) {
      if (Now() > deadline) {
        ::kill(daemon_, SIGKILL);
        ::waitpid(daemon_, &status, 0);
        if (s) s = Fail(EIO, "the daemon did not exit after unmount");
        break;
      }
      ::usleep(2000);
    }
    daemon_ = -1;
  }
  return s;
}

}  // namespace strata::bench
