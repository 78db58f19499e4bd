// The ownership-override xattr of fuse-overlayfs' -o xattr_permissions (1:
// user.fuseoverlayfs.override_stat, 2: user.containers.override_stat), which rootless
// container storage uses to keep owners and modes it cannot set for real.
//
// Value: "UID:GID:MODE[:DEV]", MODE in octal, optionally with file-type bits (as
// containers/storage writes it, e.g. "0:0:0755" or "0:0:040755"); DEV "char-MAJ-MIN" or
// "block-MAJ-MIN" for a device node kept as a plain file (strata's unprivileged import writes
// it). When set on a real object, users see that owner, those permission bits, and the type
// and device number when given, instead of the real ones.
// Stateless, thread-safe.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "fs/base/status.h"
#include "fs/core/xattr_io.h"

namespace strata::core {

inline constexpr std::string_view kFuseOverlayfsOverrideXattr = "user.fuseoverlayfs.override_stat";
inline constexpr std::string_view kContainersOverrideXattr = "user.containers.override_stat";

struct OverrideStat {
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t mode = 0;  // permission bits, plus type bits when the value had them
  dev_t rdev = 0;   // devices: from the DEV field

  friend bool operator==(const OverrideStat&, const OverrideStat&) = default;
};

// nullopt for a malformed value.
std::optional<OverrideStat> ParseOverrideStat(std::string_view value);
std::string FormatOverrideStat(const OverrideStat& o);

// The override of the object at PATH (xattr_io path conventions); nullopt if it has none or
// it is malformed.
std::optional<OverrideStat> ReadOverrideStat(const std::string& path, Follow follow,
                                             const std::string& xattr);
Status WriteOverrideStat(const std::string& path, Follow follow, const std::string& xattr,
                         const OverrideStat& o);

// ST as users see it under override O.
inline void ApplyOverride(const OverrideStat& o, struct stat* st) {
  st->st_uid = o.uid;
  st->st_gid = o.gid;
  const mode_t type = (o.mode & S_IFMT) ? (o.mode & S_IFMT) : (st->st_mode & S_IFMT);
  st->st_mode = type | (o.mode & 07777);
  if (S_ISCHR(type) || S_ISBLK(type)) st->st_rdev = o.rdev;
}

// The override recording ST's real owner and mode.
inline OverrideStat OverrideOf(const struct stat& st) {
  return OverrideStat{st.st_uid, st.st_gid, st.st_mode, st.st_rdev};
}

}  // namespace strata::core
