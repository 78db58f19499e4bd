// Container start-up with a target as podman's storage: each target gets a podman store of its
// own under the work directory (FUSE targets as overlay.mount_program, kernel overlayfs as the
// overlay driver itself, native as the vfs driver), a busybox image imported into it, and
// `podman run --rm IMAGE true` timed. Everything podman leaves is removed with the store.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bench/engine/spec.h"
#include "fs/base/status.h"

namespace strata::bench {

class PodmanStore {
 public:
  // A store for TARGET in DIR (created; removed by the destructor) holding the image made of
  // ROOTFS_TAR.
  static Result<std::unique_ptr<PodmanStore>> Create(const TargetSpec& target,
                                                     const std::string& dir,
                                                     const std::string& rootfs_tar);
  ~PodmanStore();
  PodmanStore(const PodmanStore&) = delete;
  PodmanStore& operator=(const PodmanStore&) = delete;

  // `podman run --rm IMAGE true`. Errors: podman's, with its output.
  Status RunOnce() const;

 private:
  PodmanStore(std::string dir, std::string runroot, std::vector<std::string> global)
      : dir_(std::move(dir)), runroot_(std::move(runroot)), global_(std::move(global)) {}
  Status Podman(const std::vector<std::string>& args) const;

  std::string dir_;
  std::string runroot_;              // podman's run directory (short: podman's limit)
  std::vector<std::string> global_;  // podman's storage and runtime flags
};

// A busybox root filesystem (/bin/busybox, /bin/true, /bin/sh) as a tar at PATH.
Status MakeBusyboxRootfs(const std::string& dir, const std::string& path);

}  // namespace strata::bench
