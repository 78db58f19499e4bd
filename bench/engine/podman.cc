#include "bench/engine/podman.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "bench/engine/system.h"

namespace strata::bench {
namespace {

constexpr const char* kImage = "localhost/strata-bench-busybox:1";

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// podman passes a mount_program only its own -o options: a target's extra options come from a
// wrapper that adds them.
Result<std::string> MountProgram(const TargetSpec& target, const std::string& dir) {
  if (target.options.empty()) return target.binary;
  const std::string wrapper = dir + "/mount-program";
  STRATA_RETURN_IF_ERROR(WriteFile(wrapper, "#!/bin/sh\nexec " + ShellQuote(target.binary) +
                                                " -o " + ShellQuote(target.options) +
                                                " \"$@\"\n"));
  if (::chmod(wrapper.c_str(), 0755) != 0) return FailErrno("chmod " + wrapper);
  return wrapper;
}

}  // namespace

Status MakeBusyboxRootfs(const std::string& dir, const std::string& path) {
  STRATA_RETURN_IF_ERROR(RemoveTree(dir));
  STRATA_RETURN_IF_ERROR(MakeDirs(dir + "/bin"));
  STRATA_RETURN_IF_ERROR(MakeDirs(dir + "/etc"));
  STRATA_RETURN_IF_ERROR(RunCommand({"cp", "/bin/busybox", dir + "/bin/busybox"}));
  for (const char* applet : {"true", "sh"}) {
    if (::symlink("busybox", (dir + "/bin/" + applet).c_str()) != 0) {
      return FailErrno(std::string("symlink ") + applet);
    }
  }
  return RunCommand({"tar", "-C", dir, "-cf", path, "."});
}

Result<std::unique_ptr<PodmanStore>> PodmanStore::Create(const TargetSpec& target,
                                                         const std::string& dir,
                                                         const std::string& rootfs_tar) {
  STRATA_RETURN_IF_ERROR(RemoveTree(dir));
  STRATA_RETURN_IF_ERROR(MakeDirs(dir));
  std::vector<std::string> driver;
  switch (target.kind) {
    case TargetKind::kNative:
      driver = {"--storage-driver", "vfs"};
      break;
    case TargetKind::kKernel:
      driver = {"--storage-driver", "overlay"};
      break;
    case TargetKind::kStratafs:
    case TargetKind::kFuseCompatible: {
      STRATA_ASSIGN_OR_RETURN(std::string program, MountProgram(target, dir));
      driver = {"--storage-driver", "overlay", "--storage-opt",
                "overlay.mount_program=" + program};
      break;
    }
  }
  // podman refuses a runroot longer than 50 characters: a short one of our own under /tmp.
  char runroot[] = "/tmp/strata-podman-XXXXXX";
  if (::mkdtemp(runroot) == nullptr) return FailErrno("mkdtemp /tmp/strata-podman-XXXXXX");
  std::vector<std::string> global = {"--root", dir + "/root", "--runroot", runroot,
                                     "--tmpdir", dir + "/tmp"};
  global.insert(global.end(), driver.begin(), driver.end());
  global.insert(global.end(), {"--runtime", "runc", "--cgroup-manager", "cgroupfs",
                               "--events-backend", "file"});
  // From here the destructor removes what podman makes.
  std::unique_ptr<PodmanStore> store(new PodmanStore(dir, runroot, std::move(global)));
  STRATA_RETURN_IF_ERROR(store->Podman({"import", "-q", rootfs_tar, kImage}));
  return store;
}

PodmanStore::~PodmanStore() {
  (void)Podman({"rm", "-a", "-f"});
  (void)Podman({"rmi", "-a", "-f"});
  // What podman keeps mounted under its store (its private bind mounts), deepest first.
  for (const std::string& d : {dir_, runroot_}) {
    const std::vector<std::string> left = MountsUnder(d);
    for (auto it = left.rbegin(); it != left.rend(); ++it) (void)Unmount(*it);
    (void)RemoveTree(d);
  }
}

Status PodmanStore::Podman(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"podman"};
  argv.insert(argv.end(), global_.begin(), global_.end());
  argv.insert(argv.end(), args.begin(), args.end());
  std::string out;
  return RunCommand(argv, &out);
}

Status PodmanStore::RunOnce() const {
  return Podman({"run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit",
                 "nproc=4096:4096", kImage, "true"});
}

}  // namespace strata::bench
