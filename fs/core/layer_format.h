// The on-disk overlay encodings strata reads (SPEC.md section 2).
//
// Whiteouts: a character device 0/0; a `.wh.NAME` file (OCI); or, in a directory marked with
// overlay.opaque="x", a zero-size regular file carrying an overlay.whiteout xattr (kernel 6.7+).
// Opaque directories: overlay.opaque="y" in the trusted. or user. namespace,
// user.fuseoverlayfs.opaque="y", or a `.wh..wh..opq` entry inside.
// All functions are stateless and thread-safe; fds are borrowed, never closed.
#pragma once

#include <sys/stat.h>

#include <optional>
#include <string>
#include <string_view>

#include "fs/base/status.h"

namespace strata::core {

inline constexpr std::string_view kWhiteoutPrefix = ".wh.";
inline constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

inline bool HasWhiteoutPrefix(std::string_view name) { return name.starts_with(kWhiteoutPrefix); }

// Names that never exist in the merged view (and must never reach a layer as a path).
inline bool NeverVisible(std::string_view name) {
  return name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos ||
         HasWhiteoutPrefix(name);
}

// A char device 0/0.
inline bool IsDeviceWhiteout(const struct stat& st) {
  return S_ISCHR(st.st_mode) && st.st_rdev == 0;
}

// True for the overlay-private xattr namespaces users must never see or set.
bool IsPrivateXattr(std::string_view name);

// "/proc/self/fd/N" (and "/proc/self/fd/N/name"): lets path-based syscalls (xattrs) act on
// an O_PATH fd without resolving absolute paths.
std::string ProcFdPath(int fd);
std::string ProcFdPath(int dirfd, std::string_view name);

// Private xattrs strata writes in an upper layer, in the trusted. namespace when privileged and
// the user. namespace otherwise (the prefix is "trusted.overlay." or "user.overlay."):
// - "opaque" = "y" and "redirect" = "/lower/path", as kernel overlayfs writes them;
// - "strata.ino" = the decimal st_ino a copied-up object keeps (its lower object's), which
//   kernel overlayfs ignores (it hides every name under the prefix);
// - "impure" = "y" on the upper directories that hold such objects, as the kernel marks them.
inline constexpr std::string_view kOpaqueSuffix = "opaque";
inline constexpr std::string_view kRedirectSuffix = "redirect";
inline constexpr std::string_view kInoSuffix = "strata.ino";
// "impure" = "y" (the kernel's marker, same meaning) on an upper directory that may hold
// entries with a kept st_ino: only such directories need a per-entry xattr read in readdir.
inline constexpr std::string_view kImpureSuffix = "impure";
// On an indexed copy of a hard-linked lower file: how many of its lower names have not been
// linked to the copy yet (they still count in the st_nlink users see).
inline constexpr std::string_view kLowerLinksSuffix = "strata.lower";
// "metacopy" (empty value, the kernel's v0 format) on a regular upper file copied up for a
// metadata change only (mount option metacopy=on): it is sparse, of the right size, and its
// data is the object below it at the same name, or at its overlay.redirect (absolute from
// the layer roots, or a name in the same directory), as kernel overlayfs reads it.
inline constexpr std::string_view kMetacopySuffix = "metacopy";

// Writers mark the directory of a metacopy file impure (kernel overlayfs and strata both):
// below the upper layer, only regular files with a size in such directories are checked.
inline bool MayBeMetacopy(const struct stat& st) { return S_ISREG(st.st_mode) && st.st_size > 0; }
// If NAME in DIRFD carries PREFIX "metacopy" (an empty PREFIX: trusted. or user.overlay.), its
// PREFIX "redirect" ("" for none); nullopt if it is no metacopy file.
std::optional<std::string> ReadMetacopy(int dirfd, std::string_view name, std::string_view prefix);
// Removes overlay.metacopy (either namespace) from open file FD. Errors: removexattr's errno.
Status RemoveMetacopy(int fd);

// The markers of a directory, read the same in every layer (an upper layer may later be stacked
// as a lower one), each in the trusted. or the user. namespace.
struct DirMarks {
  bool opaque = false;           // hides every lower directory of the same path
  bool xattr_whiteouts = false;  // children may be xattr whiteouts (overlay.opaque="x")
  std::string redirect;          // overlay.redirect: where its lower directories are
  uint64_t ino = 0;              // overlay.strata.ino, 0 if absent
  std::string impure_prefix;     // "trusted.overlay." or "user.overlay." if marked impure
};

// Reads the markers of the directory open as `dirfd` (O_PATH is fine).
// Errors: errno of listxattr/getxattr/fstatat other than "no such xattr/entry".
Result<DirMarks> ReadDirMarks(int dirfd);

// The decimal number in xattr PREFIX+SUFFIX of NAME in `dirfd` (NAME empty: `dirfd` itself);
// nullopt if absent or unreadable.
std::optional<uint64_t> ReadStoredNumber(int dirfd, std::string_view name, std::string_view prefix,
                                         std::string_view suffix);
inline uint64_t ReadStoredIno(int dirfd, std::string_view name, std::string_view prefix) {
  return ReadStoredNumber(dirfd, name, prefix, kInoSuffix).value_or(0);
}
// The st_ino a non-directory NAME of a lower layer that was once an upper one keeps, or 0. The
// indexed copy of a hard link keeps none there: the index is in the old workdir, not in a
// layer, so the lower original may still show under its other names, and two objects must
// never share an identity.
inline uint64_t ReadLowerKeptIno(int dirfd, std::string_view name, std::string_view prefix) {
  const uint64_t ino = ReadStoredIno(dirfd, name, prefix);
  if (ino == 0 || ReadStoredNumber(dirfd, name, prefix, kLowerLinksSuffix)) return 0;
  return ino;
}

// True if directory `dirfd` holds the OCI whiteout ".wh.NAME" (a name too long for the prefix
// has none). Errors: the errno of the stat other than ENOENT.
Result<bool> HasOciWhiteout(int dirfd, std::string_view name);

// True if NAME in directory `dirfd` (whose marks allow xattr whiteouts) is a zero-size regular
// file with an overlay.whiteout xattr. `st` is NAME's lstat.
bool IsXattrWhiteout(int dirfd, std::string_view name, const struct stat& st);

}  // namespace strata::core
