// Mounting one target over a layer set: FUSE targets as their own foreground daemons,
// kernel overlayfs by mount(2), native as the merged tree copied to a plain directory.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "bench/engine/layers.h"
#include "bench/engine/spec.h"

namespace strata::bench {

// Why SPEC cannot run here ("" if it can): a missing binary, no root for kernel overlayfs, an
// unusable /dev/fuse.
std::string Unavailable(const TargetSpec& spec);

struct MountRequest {
  const LayerSet* layers = nullptr;
  std::string upper, work;  // fresh empty directories on one filesystem (not for native)
  std::string mountpoint;
  std::string native_root;  // native: the merged tree as a plain directory
};

// A mounted target. Destroying it unmounts and waits for the daemon.
class Mounted {
 public:
  Mounted(std::string root, std::string mountpoint, pid_t daemon)
      : root_(std::move(root)), mountpoint_(std::move(mountpoint)), daemon_(daemon) {}
  ~Mounted() { (void)Close(); }
  Mounted(const Mounted&) = delete;
  Mounted& operator=(const Mounted&) = delete;

  // Where the workloads run: the mount point, or native's directory.
  const std::string& root() const { return root_; }
  // Unmounts now. Errors: the unmount's, or EIO if the daemon did not exit cleanly.
  Status Close();
  // The daemon's peak resident memory so far (VmHWM, KiB); 0 without a daemon (or once
  // closed).
  uint64_t DaemonPeakRssKib() const;

 private:
  std::string root_;
  std::string mountpoint_;  // empty for native
  pid_t daemon_ = -1;
};

Result<std::unique_ptr<Mounted>> MountTarget(const TargetSpec& spec, const MountRequest& request);

}  // namespace strata::bench
