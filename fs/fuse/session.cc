#include "fs/fuse/session.h"

#include <cerrno>
#include <csignal>
#include <memory>
#include <optional>

#include "fs/base/log.h"
#include "fs/fuse/context.h"
#include "fs/fuse/node_pruner.h"
#include "fs/fuse/ops.h"

namespace strata::fuse {
namespace {

// libfuse's option parser splits on commas: escape them (and backslashes) in values.
std::string EscapeOption(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == ',' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

struct SessionDeleter {
  void operator()(fuse_session* se) const { fuse_session_destroy(se); }
};

// The core's notices, as libfuse notify calls. Attribute-only invalidation (offset -1) touches
// no page, so it never waits for a request this daemon has yet to answer (safe from a handler,
// also in the single-threaded loop).
class NotifyingCache : public core::KernelCache {
 public:
  explicit NotifyingCache(fuse_session* se) : se_(se) {}
  void InvalidateAttr(core::InodeId id) override {
    // -ENOENT: the kernel holds no inode for it, so nothing is cached.
    (void)fuse_lowlevel_notify_inval_inode(se_, id.value, -1, 0);
  }

 private:
  fuse_session* se_;
};

}  // namespace

int RunSession(core::UnionFs& fs, const SessionConfig& config) {
  std::string opts = "fsname=" + EscapeOption(config.fsname) + ",subtype=stratafs";
  // The kernel checks permissions against the attributes we report, as on any local fs.
  opts += ",default_permissions";
  for (const std::string& o : config.mount_options) opts += "," + o;
    // libfuse starts its rings only if the kernel offers FUSE over io_uring at INIT (OpInit).
#ifdef FUSE_CAP_OVER_IO_URING
  if (config.io_uring) opts += ",io_uring";
#else
  if (config.io_uring_asked) {
    STRATA_LOG(kWarn) << "io_uring: this build's libfuse " << fuse_pkgversion()
                      << " has no FUSE over io_uring (3.18+ has); serving over /dev/fuse";
  }
#endif

  std::vector<std::string> args = {"stratafs", "-o", opts};
  if (config.debug) args.push_back("-d");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

  const fuse_lowlevel_ops ops = MakeOps();
  Context ctx;
  ctx.fs = &fs;
  ctx.entry_timeout = config.timeout;
  ctx.attr_timeout = config.timeout;
  ctx.posix_acl = config.posix_acl;
  ctx.writeback = config.writeback;
  ctx.io_uring = config.io_uring;
  ctx.io_uring_asked = config.io_uring_asked;
  ctx.passthrough = config.passthrough && !config.writeback;  // the kernel refuses the mix
  ctx.max_nodes = config.max_nodes;
  // Destroyed after the session: workers that fuse_session_destroy ends may still publish a
  // node and so call the pruner's hook. Its thread is stopped before the unmount.
  std::optional<NodePruner> pruner;
  std::unique_ptr<fuse_session, SessionDeleter> se(
      fuse_session_new(&fargs, &ops, sizeof(ops), &ctx));
  fuse_opt_free_args(&fargs);
  if (!se) {
    STRATA_LOG(kError) << "cannot start a FUSE session with options '" << opts << "'";
    return 1;
  }
  NotifyingCache cache(se.get());
  fs.SetKernelCache(&cache);
  struct Unset {
    core::UnionFs& fs;
    ~Unset() { fs.SetKernelCache(nullptr); }
  } unset{fs};
  if (fuse_set_signal_handlers(se.get()) != 0) {
    STRATA_LOG(kError) << "cannot install signal handlers";
    return 1;
  }
  if (fuse_session_mount(se.get(), config.mountpoint.c_str()) != 0) {
    STRATA_LOG(kError) << "cannot mount on '" << config.mountpoint << "'";
    fuse_remove_signal_handlers(se.get());
    return 1;
  }
  ctx.dev_fd = fuse_session_fd(se.get());
  // The mount is live: only now may the parent exit (runtimes wait for it).
  if (fuse_daemonize(config.foreground ? 1 : 0) != 0) {
    fuse_session_unmount(se.get());
    fuse_remove_signal_handlers(se.get());
    return 1;
  }
  int rc;
  // The pruner's thread starts after the fork of fuse_daemonize.
  if (config.max_nodes != 0) pruner.emplace(fs, ctx.dev_fd, config.max_nodes, ctx.can_prune);
  if (config.multithreaded) {
    fuse_loop_config* loop = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(loop, 1);
    rc = fuse_session_loop_mt(se.get(), loop);
    fuse_loop_cfg_destroy(loop);
  } else {
    rc = fuse_session_loop(se.get());
  }
  if (pruner) pruner->Stop();  // no more writes to the session's descriptor
  fuse_session_unmount(se.get());
  fuse_remove_signal_handlers(se.get());
  // libfuse returns the number of the signal that ended the loop: SIGTERM/SIGINT/SIGHUP are an
  // orderly shutdown (the mount is gone), not a failure. So is a connection the kernel ended
  // as "aborted" (-ECONNABORTED: seen once in ~300 unmounts under ASan; cause not yet known).
  const bool orderly =
      rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP || rc == -ECONNABORTED;
  if (!orderly) STRATA_LOG(kError) << "session loop failed (" << rc << ")";
  return orderly ? 0 : 1;
}

std::string LibfuseVersion() { return fuse_pkgversion(); }

}  // namespace strata::fuse
