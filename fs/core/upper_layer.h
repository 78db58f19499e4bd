// UpperLayer: the writable layer of a mount and its workdir.
//
// The workdir is ours (SPEC.md section 2): W/work holds objects being built (copy-up, create,
// whiteouts), which are renamed into the upper directory when complete, so a crash never shows
// a partial object; W/work is emptied at every mount. W/strata-index holds one extra link,
// named by st_ino, to the upper copy of every hard-linked lower file, so its other names find
// the copy (also after a remount) instead of the stale lower data. How whiteouts and markers are
// written is decided once, by probing the upper filesystem at mount:
// - whiteouts are char 0/0 devices where mknod of one works (root, or a user namespace on a
//   recent kernel), else ".wh.NAME" files;
// - markers are trusted.overlay.* xattrs where those can be set (root), else user.overlay.*
//   (what kernel overlayfs reads with -o userxattr).
// Thread-safe after Open (the temp-name counter is atomic).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fs/base/status.h"
#include "fs/base/unique_fd.h"

namespace strata::core {

struct UpperConfig {
  std::string upperdir;
  std::string workdir;
  bool fsync = true;       // false with fsync=0 or volatile
  bool userxattr = false;  // write user.overlay.* markers even when trusted.* would work
  // Write ".wh.NAME" whiteouts even where char 0/0 devices could be made (as on an upper
  // filesystem that holds no device nodes); for tests of that format.
  bool oci_whiteouts = false;
};

class UpperLayer {
 public:
  // Opens and checks UPPERDIR and WORKDIR against LOWERDIRS. Errors, each with a message naming
  // the path: ENOTDIR/ENOENT/EACCES for unusable directories; EXDEV if workdir and upperdir are
  // on different filesystems; EINVAL if upperdir and workdir overlap, or either lies inside a
  // lowerdir (or contains one); ENOTEMPTY if workdir holds entries that are not a workdir's;
  // EBUSY if another mount uses the workdir; ENOTSUP if the upper filesystem has no xattrs.
  static Result<std::unique_ptr<UpperLayer>> Open(const UpperConfig& config,
                                                  const std::vector<std::string>& lowerdirs);

  const std::string& path() const { return config_.upperdir; }
  int work_fd() const { return work_.Get(); }    // O_PATH of W/work
  int index_fd() const { return index_.Get(); }  // O_PATH of W/strata-index
  bool fsync() const { return config_.fsync; }
  bool device_whiteouts() const { return device_whiteouts_; }
  // "trusted.overlay." or "user.overlay.": where opaque, redirect and strata.ino are written.
  const std::string& xattr_prefix() const { return prefix_; }
  std::string Xattr(std::string_view suffix) const { return prefix_ + std::string(suffix); }

  // A fresh name for an object under construction in work_fd().
  std::string TempName();
  // Removes TMP from work_fd(), with everything beneath it if it is a directory.
  Status Discard(const std::string& tmp);

 private:
  UpperLayer() = default;
  Status Probe();

  UpperConfig config_;
  UniqueFd work_;
  UniqueFd index_;
  UniqueFd lock_;  // flock'ed W: one mount per workdir
  bool device_whiteouts_ = false;
  std::string prefix_ = "user.overlay.";
  std::atomic<uint64_t> next_temp_{1};
};

}  // namespace strata::core
