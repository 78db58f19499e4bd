// The stratafs command line, fuse-overlayfs compatible (SPEC.md section 1):
//   stratafs [-f] [-d|--debug] [-o OPT[,OPT...]]... [SOURCE] MOUNTPOINT
// Parsing is pure (no I/O): it validates syntax; whether paths exist is checked when mounting.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fs/base/status.h"

namespace strata {

// uidmapping=/gidmapping= triples, fuse-overlayfs semantics: ids stored_id..+count in the
// layers are shown as shown_id..+count, and the reverse when a caller's id is stored.
struct IdMapping {
  uint32_t stored_id = 0;
  uint32_t shown_id = 0;
  uint32_t count = 0;
  friend bool operator==(const IdMapping&, const IdMapping&) = default;
};

struct MountOptions {
  std::string source;  // first of two positional arguments ("overlay")
  std::string mountpoint;
  std::vector<std::string> lowerdirs;  // topmost first
  std::vector<std::string> datadirs;   // after "::": reachable only through metacopy redirects
  std::string upperdir;
  std::string workdir;

  bool foreground = false;
  bool debug = false;
  bool help = false;
  bool version = false;

  // fuse-overlayfs options.
  std::vector<IdMapping> uid_mappings;
  std::vector<IdMapping> gid_mappings;
  bool squash_to_root = false;
  std::optional<uint32_t> squash_to_uid;
  std::optional<uint32_t> squash_to_gid;
  bool static_nlink = false;
  bool noacl = false;
  std::string xino = "auto";  // off | auto | on
  bool ino32 = false;
  bool fsync = true;  // fsync=0 or volatile turn it off
  bool is_volatile = false;
  double timeout = 1000000000.0;  // fuse-overlayfs' default: names and attributes never expire
  bool threaded = true;
  bool writeback = false;
  // FUSE over io_uring (libfuse 3.18+, kernel enable_uring=1): used when offered unless
  // io_uring=0; io_uring_asked (io_uring or io_uring=1) warns when it is not.
  bool io_uring = true;
  bool io_uring_asked = false;
  // FUSE passthrough (Linux 6.9+, root) for upper files and read-only unions: on unless
  // passthrough=0; off with writeback=1 (the kernel refuses the mix).
  bool passthrough = true;
  bool noxattrs = false;
  int xattr_permissions = 0;  // 0 | 1 | 2
  bool userxattr = false;
  std::string context;  // SELinux label (quotes stripped)
  std::string redirect_dir;
  // metacopy=on: metadata-only copy-up of regular files (core::UnionConfig::metacopy).
  bool metacopy = false;
  std::string index;
  std::optional<uint32_t> max_write;
  // dir_fds=N: how many directories' fds may stay open (core::UnionConfig::dir_fd_budget);
  // unset: a quarter of the soft RLIMIT_NOFILE.
  std::optional<uint32_t> dir_fds;
  // max_nodes=N: how many nodes the kernel may hold before it is asked to drop unused ones
  // (fuse/node_pruner.h); 0: no bound. Unset: fuse::kDefaultMaxNodes.
  std::optional<uint32_t> max_nodes;
  bool read_only = false;  // "ro", or no upperdir

  // Options for the kernel / libfuse, passed through (allow_other, nosuid, ...).
  std::vector<std::string> kernel_options;
  // Unknown -o keys: reported as warnings, never failures (runtimes rely on that).
  std::vector<std::string> warnings;
};

// Parses argv (without argv[0]). Errors (EINVAL, with a message): unknown dash options, a
// missing mountpoint or lowerdir, more than two positional arguments, upperdir without workdir
// or the reverse, malformed values (mappings, numbers, xino, empty layer paths).
Result<MountOptions> ParseCommandLine(const std::vector<std::string>& args);

// Splits an -o list on commas outside double quotes; `\,` is a literal comma; quotes are kept
// for the value parser. Empty items (",,") are dropped.
std::vector<std::string> SplitOptionList(const std::string& list);

// Splits a lowerdir value on unescaped ':'. A literal colon is "\:" (the kernel's spelling) or
// "\\:" (fuse-overlayfs's, which libfuse unescapes once before it reads "\:"); "\\" elsewhere
// is a backslash. A "::" separator starts the data-only layers. Errors: EINVAL for an empty
// path.
Status SplitLowerdir(const std::string& value, std::vector<std::string>* layers,
                     std::vector<std::string>* datadirs);

}  // namespace strata
