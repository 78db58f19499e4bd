// Mount fixtures for integration tests. Every fixture undoes what it did in its destructor,
// also when the test fails: unmount (retry, then lazy), then wait for and, if needed, SIGKILL
// the daemon it started — by pid, never by name.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace strata::testing {

// Why integration tests cannot run here ("" if they can): needs root and a usable /dev/fuse.
std::string MountUnavailableReason();

bool IsMountPoint(const std::string& path);

// Waits until PATH is (or, with mounted=false, is no longer) a mount point. False on timeout.
bool WaitForMount(const std::string& path, bool mounted, int timeout_ms);

struct CommandResult {
  int exit_code = -1;  // -1: killed by a signal or timed out
  std::string out;
  std::string err;
};

// Everything FD's file holds, read with pread from offset 0 (FD's offset is left alone).
std::string PreadAll(int fd);

// Requests with OPCODE ("READ", "OPENDIR") in the part after FROM of TRACE, a daemon's request
// trace (-d: its stderr).
int TraceRequests(const std::string& trace, size_t from, const std::string& opcode);

// Runs ARGV (argv[0] is a path) to completion with a time limit, capturing output. On timeout
// the child is killed with SIGKILL.
CommandResult RunCommand(const std::vector<std::string>& argv, int timeout_ms = 60000);

// The stratafs binary under test: STRATA_TEST_STRATAFS if set (scripts/test: the TSan build),
// else this build's.
std::string DaemonUnderTest();

// stratafs run in the foreground (-f) so the fixture owns its pid.
class StrataMount {
 public:
  // Starts `stratafs -f ARGS... MOUNTPOINT` and waits for the mount. If the daemon exits or the
  // mount does not appear within 10 s, ok() is false and error() says why (with stderr).
  StrataMount(std::vector<std::string> args, std::string mountpoint);
  // The same with the daemon started as `PREFIX... BINARY -f ARGS... MOUNTPOINT` (e.g. PREFIX
  // runuser -u nobody --, BINARY a copy of stratafs that user can execute).
  StrataMount(std::vector<std::string> prefix, const std::string& binary,
              std::vector<std::string> args, std::string mountpoint);
  ~StrataMount();
  StrataMount(const StrataMount&) = delete;
  StrataMount& operator=(const StrataMount&) = delete;

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  pid_t pid() const { return pid_; }
  const std::string& path() const { return mountpoint_; }
  // Unmounts and reaps the daemon now; returns its exit status (-1 if it had to be killed).
  int Stop();
  // Everything the daemon wrote to stderr so far.
  std::string Stderr() const;

 private:
  std::string mountpoint_;
  int stderr_fd_ = -1;  // memfd the daemon writes its stderr to
  pid_t pid_ = -1;
  bool ok_ = false;
  std::string error_;
  int exit_code_ = -1;
};

// A kernel parameter (a /proc/sys or /sys/module file) set to VALUE for this object's
// lifetime, and back to what it was after. ok() is false if it could not be read or written.
class KernelParam {
 public:
  KernelParam(std::string path, const std::string& value);
  ~KernelParam();
  KernelParam(const KernelParam&) = delete;
  KernelParam& operator=(const KernelParam&) = delete;
  bool ok() const { return ok_; }

 private:
  std::string path_, before_;
  bool ok_ = false;
};

// FUSE over io_uring switched on in the kernel (/sys/module/fuse/parameters/enable_uring) for
// this object's lifetime, and back to what it was after. ok() is false (error() says why) if
// this kernel has no such parameter or it cannot be written.
class FuseUringEnabled {
 public:
  FuseUringEnabled();
  bool ok() const { return param_.ok(); }
  const std::string& error() const { return error_; }

 private:
  KernelParam param_;
  std::string error_;
};

// Whether process PID holds an io_uring instance (a FUSE daemon serving over io_uring does)
// within TIMEOUT_MS (its rings are set up while it answers the kernel's INIT, in threads).
bool HoldsIoUring(pid_t pid, int timeout_ms = 10000);

// STRATA_TEST_MOUNT_OPTIONS (scripts/test-modes): options every StrataMount adds after its
// own ("passthrough=0", "writeback=1", ...), so the suite runs in another mode; empty: none.
std::string ExtraMountOptions();
// Whether that list holds OPTION exactly (a test of a mode-specific behaviour skips when the
// mode under test changes it).
bool ExtraModeHas(const std::string& option);

// A parameterized test's name for a stratafs mode ("default", "writeback=1", "io_uring",
// "passthrough=0", "dir_fds=8").
std::string ModeName(const std::string& mode);

// The minor version of the libfuse the tested stratafs links (its --version), 0 if unknown.
int DaemonLibfuseMinor();

// Convenience: "lowerdir=A:B:C" from paths, escaping ':' in them.
std::string LowerdirOption(const std::vector<std::string>& layers);

// A kernel overlayfs mount: lower layers only (read-only), or with the mount data given.
class KernelOverlay {
 public:
  KernelOverlay(const std::vector<std::string>& lowerdirs, std::string mountpoint);
  // DATA is the full option string ("lowerdir=...,upperdir=...,workdir=...,index=on").
  KernelOverlay(const std::string& data, std::string mountpoint);
  ~KernelOverlay();
  KernelOverlay(const KernelOverlay&) = delete;
  KernelOverlay& operator=(const KernelOverlay&) = delete;
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }

 private:
  std::string mountpoint_;
  bool ok_ = false;
  std::string error_;
};

// A private tmpfs (supports trusted.* and user.* xattrs and device nodes), unmounted at the end;
// OPTIONS are added to its mount data (e.g. "size=8m,nr_inodes=100").
class TmpfsMount {
 public:
  explicit TmpfsMount(std::string mountpoint, const std::string& options = "");
  ~TmpfsMount();
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  bool ok() const { return ok_; }
  const std::string& path() const { return mountpoint_; }

 private:
  std::string mountpoint_;
  bool ok_ = false;
};

// Unmounts PATH: retries a normal unmount, then detaches lazily. Returns false if still mounted.
bool Unmount(const std::string& path);

}  // namespace strata::testing
