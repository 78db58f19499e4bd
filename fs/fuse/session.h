// The FUSE session: mount, daemonize once the mount is live, serve with a multi-threaded loop,
// unmount. The only entry point of strata_fuse besides the op table.
#pragma once

#include <string>
#include <vector>

#include "fs/core/union_fs.h"

namespace strata::fuse {

// The default node budget: some 64 MiB of daemon at its peak (a 1,000,000-entry walk,
// bench/results/memory), while the trees of most images fit (a warm walk of a larger one looks
// names up again).
inline constexpr size_t kDefaultMaxNodes = size_t{1} << 17;

struct SessionConfig {
  std::string mountpoint;
  std::string fsname = "stratafs";         // the source column of the mount table
  std::vector<std::string> mount_options;  // kernel/libfuse options (allow_other, ro, nosuid...)
  bool foreground = false;
  bool debug = false;  // libfuse request trace on stderr
  bool multithreaded = true;
  double timeout = 0;      // entry and attribute cache timeout, seconds
  bool posix_acl = true;   // false with -o noacl
  bool writeback = false;  // kernel writeback cache (-o writeback=1)
  bool io_uring = true;    // FUSE over io_uring, if this libfuse and the kernel offer it
  bool io_uring_asked = false;  // say so when io_uring cannot be used
  bool passthrough = true;      // FUSE passthrough for upper (or read-only) files, if granted
  // The nodes the kernel may hold before it is asked to drop unused ones (node_pruner.h);
  // 0: no bound.
  size_t max_nodes = kDefaultMaxNodes;
};

// Runs until unmounted or signalled (SIGTERM, SIGINT, SIGHUP unmount and end it). Returns the
// process exit status: 0 after an unmount or one of those signals, 1 if the mount could not be
// made (after printing why) or the loop failed.
int RunSession(core::UnionFs& fs, const SessionConfig& config);

// The version of the libfuse linked in ("3.18.3"), for --version.
std::string LibfuseVersion();

}  // namespace strata::fuse
