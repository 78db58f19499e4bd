// A canonical dump of a directory tree, for comparing a mount with a reference (kernel
// overlayfs, an expected tree). Walks with fd-relative syscalls, never follows symlinks, never
// opens FIFOs or devices.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

namespace strata::testing {

struct DumpEntry {
  char type = '?';  // f d l p c b s
  mode_t mode = 0;  // permission bits incl. setuid/setgid/sticky
  uid_t uid = 0;
  gid_t gid = 0;
  uint64_t size = 0;
  uint64_t nlink = 0;
  int64_t mtime_sec = 0;
  int64_t mtime_nsec = 0;
  uint64_t rdev = 0;
  std::string content_hash;  // xxh3-128 of regular file data
  std::string link;          // symlink target
  std::string xattrs;        // "name=hexvalue;..." sorted
  uint64_t ino = 0;          // st_ino
  uint64_t d_ino = 0;        // from the parent's readdir
  unsigned d_type = 0;       // from the parent's readdir
};

using Tree = std::map<std::string, DumpEntry>;  // "/a/b" -> entry; "/" is the root

// Dumps ROOT. Throws std::runtime_error on any I/O error (with the path).
// SKIP_PHANTOMS: skip names that readdir lists but stat cannot find. Only for kernel overlayfs
// as a reference: it lists the raw entries of a directory present in one lower layer only, so
// a whiteout there that hides nothing below shows in readdir yet fails lookup (ENOENT).
Tree DumpTree(const std::string& root, bool skip_phantoms = false);

struct CanonicalOptions {
  bool dir_nlink = false;  // include st_nlink of directories (kernel overlayfs reports 1)
  bool file_nlink = true;  // include st_nlink of non-directories
  bool dir_mtime = true;   // include directory mtimes
};

// One line per entry, sorted, without inode numbers.
std::string Canonical(const Tree& tree, CanonicalOptions options = {});

// A unified-style list of differing lines ("- expected" / "+ actual"), at most MAX_LINES.
std::string DiffLines(const std::string& expected, const std::string& actual,
                      size_t max_lines = 40);

// Checks the identity rules of a mount: d_ino == st_ino and d_type matches for every entry;
// entries share an st_ino iff they are hard links of one non-directory in REFERENCE (paths with
// equal ino there). Returns an empty string when they hold, else a description.
std::string CheckInodes(const Tree& actual, const Tree& reference);

// Directory st_nlink == 2 + number of subdirectories, for every directory.
std::string CheckDirNlink(const Tree& tree);

}  // namespace strata::testing
