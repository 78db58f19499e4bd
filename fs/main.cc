// stratafs: parse the fuse-overlayfs-compatible command line, open the layers, run the session.
#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fs/base/log.h"
#include "fs/base/mount_table.h"
#include "fs/core/union_fs.h"
#include "fs/fuse/session.h"
#include "fs/mount_options.h"

namespace {

constexpr const char* kUsage =
    "usage: stratafs [-f] [-d|--debug] [-o OPT[,OPT...]]... [SOURCE] MOUNTPOINT\n"
    "\n"
    "Mounts the union of LOWERDIRs (leftmost on top) at MOUNTPOINT, as fuse-overlayfs does.\n"
    "  -o lowerdir=L1:L2:...   layers, topmost first ('\\:' escapes a colon, '::' starts\n"
    "                          data-only layers)\n"
    "  -o upperdir=U,workdir=W writable layer U; W is ours (same filesystem as U)\n"
    "  -o fsync=0, volatile     do not fsync copied-up files\n"
    "  -o writeback=1          kernel writeback cache\n"
    "  -o io_uring=0|1         requests over io_uring rings, one per CPU: used whenever the\n"
    "                          kernel offers it (its fuse enable_uring parameter is 1)\n"
    "                          unless 0; 1 warns when it cannot be used\n"
    "  -o passthrough=0|1      the kernel reads and writes upper files (all files of a\n"
    "                          read-only mount) itself: on where it may (Linux 6.9+, root,\n"
    "                          not with writeback=1) unless 0\n"
    "  -o timeout=SECS         kernel cache timeout for names and attributes\n"
    "  -o max_nodes=N          ask the kernel to drop unused nodes past N (131072; 0: never;\n"
    "                          Linux 6.18+), bounding the daemon's memory\n"
    "  -o static_nlink         report st_nlink 1 for directories\n"
    "  -o allow_other,nosuid,nodev,noexec,ro,...  passed to the kernel\n"
    "  -f                      stay in the foreground\n"
    "  -d, --debug             foreground, with debug logging and a request trace\n"
    "Other fuse-overlayfs options are accepted; unknown ones are reported and ignored.\n";

// The real path of MOUNTPOINT if it is a mount point of a stratafs mount already.
bool AlreadyStrataMount(const std::string& mountpoint) {
  char resolved[PATH_MAX];
  if (realpath(mountpoint.c_str(), resolved) == nullptr) return false;
  for (const strata::MountEntry& m : strata::ReadMountTable()) {
    if (m.point == resolved && m.fstype == "fuse.stratafs") return true;
  }
  return false;
}

// Directories' fds share a budget of a quarter of the soft limit (fs/core/dir_fd.h), open files
// hold one each: use what we are allowed. The hard limit is the administrator's (prlimit,
// LimitNOFILE=) and is kept.
void RaiseFdLimit() {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// glibc gives threads that allocate arenas of their own (up to 8 per CPU), and what is freed
// goes back to the arena it came from: nodes one worker made and another forgot leave every
// arena at a peak of its own. Measured on a 1,000,000-entry walk under the node budget:
// 146 MiB peak with glibc's default, 109 MiB with 2 arenas, 103 MiB with 1. One per CPU.
void LimitMallocArenas() {
  const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  mallopt(M_ARENA_MAX, static_cast<int>(std::clamp(cpus, 2L, 64L)));
}

int Fatal(const std::string& message) {
  STRATA_LOG(kError) << message;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  strata::log::SetProgramName("stratafs");
  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = strata::ParseCommandLine(args);
  if (!parsed) {
    std::fprintf(stderr, "stratafs: %s\n%s", parsed.error().context.c_str(), kUsage);
    return 1;
  }
  strata::MountOptions& opts = *parsed;
  if (opts.help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (opts.version) {
    std::printf("stratafs %s\nFUSE library version %s\n", STRATA_VERSION,
                strata::fuse::LibfuseVersion().c_str());
    return 0;
  }
  if (opts.debug) strata::log::SetLevel(strata::log::Level::kDebug);
  for (const std::string& w : opts.warnings) STRATA_LOG(kWarn) << w;

  struct stat st;
  if (stat(opts.mountpoint.c_str(), &st) != 0) {
    return Fatal("mountpoint '" + opts.mountpoint + "': " + strata::Error{errno, ""}.Message());
  }
  if (!S_ISDIR(st.st_mode)) return Fatal("mountpoint '" + opts.mountpoint + "' is not a directory");
  if (AlreadyStrataMount(opts.mountpoint)) {
    return Fatal("mountpoint '" + opts.mountpoint + "' is busy: a stratafs mount is already there");
  }

  RaiseFdLimit();
  LimitMallocArenas();
  strata::core::UnionConfig config;
  config.lowerdirs = opts.lowerdirs;
  config.datadirs = opts.datadirs;
  config.upperdir = opts.upperdir;
  config.workdir = opts.workdir;
  config.fsync = opts.fsync && !opts.is_volatile;
  config.userxattr = opts.userxattr;
  // Metacopy files are completed in place, which needs root's override of file modes.
  config.metacopy = opts.metacopy && !opts.upperdir.empty();
  if (config.metacopy && ::geteuid() != 0) {
    STRATA_LOG(kWarn) << "metacopy=on needs root: copy-ups copy data";
    config.metacopy = false;
  }
  if (opts.dir_fds) config.dir_fd_budget = *opts.dir_fds;
  config.static_nlink = opts.static_nlink;
  config.xattrs = !opts.noxattrs;
  if (opts.xattr_permissions == 1)
    config.override_xattr = strata::core::kFuseOverlayfsOverrideXattr;
  if (opts.xattr_permissions == 2) config.override_xattr = strata::core::kContainersOverrideXattr;
  for (const strata::IdMapping& m : opts.uid_mappings) {
    config.ids.uids.push_back({m.stored_id, m.shown_id, m.count});
  }
  for (const strata::IdMapping& m : opts.gid_mappings) {
    config.ids.gids.push_back({m.stored_id, m.shown_id, m.count});
  }
  if (opts.squash_to_root) {
    config.ids.squash_uid = 0;
    config.ids.squash_gid = 0;
  }
  if (opts.squash_to_uid) config.ids.squash_uid = *opts.squash_to_uid;
  if (opts.squash_to_gid) config.ids.squash_gid = *opts.squash_to_gid;
  auto fs = strata::core::UnionFs::Open(config);
  if (!fs) return Fatal(fs.error().Message());

  strata::fuse::SessionConfig session;
  session.mountpoint = opts.mountpoint;
  if (!opts.source.empty()) session.fsname = opts.source;
  session.mount_options = opts.kernel_options;
  auto given = [&](const char* o) {
    return std::find(opts.kernel_options.begin(), opts.kernel_options.end(), o) !=
           opts.kernel_options.end();
  };
  // Mounts by root are shared with every user (containers run as other uids), as fuse-overlayfs.
  if (geteuid() == 0 && !given("allow_other")) session.mount_options.push_back("allow_other");
  // A container rootfs needs setuid binaries and device nodes: as root, default to suid,dev
  // (as kernel overlayfs) unless the caller said nosuid/nodev.
  if (geteuid() == 0 && !given("nosuid")) session.mount_options.push_back("suid");
  if (geteuid() == 0 && !given("nodev")) session.mount_options.push_back("dev");
  if (opts.read_only) session.mount_options.push_back("ro");
  session.foreground = opts.foreground;
  session.debug = opts.debug;
  session.multithreaded = opts.threaded;
  session.timeout = opts.timeout;
  session.posix_acl = !opts.noacl && !opts.noxattrs;  // ACLs are xattrs
  session.writeback = opts.writeback;
  // libfuse serves io_uring from threads of its own: threaded=0 keeps one thread unless
  // io_uring is asked for by name.
  session.io_uring = opts.io_uring && (opts.threaded || opts.io_uring_asked);
  session.io_uring_asked = opts.io_uring_asked;
  if (opts.max_nodes) session.max_nodes = *opts.max_nodes;
  session.passthrough = opts.passthrough;
  return strata::fuse::RunSession(**fs, session);
}
