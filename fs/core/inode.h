// Inodes of the merged tree.
//
// Lifetimes: an Inode is created by UnionFs::Lookup, published in the InodeTable and shared
// (std::shared_ptr) with every operation that is using it, so a concurrent forget never frees a
// node under a running op. A non-directory keeps its parent directory alive through `parent`,
// which is what makes its borrowed `parent_fd` valid; a directory owns one O_PATH fd per layer it
// is present in. Only directories hold fds, so a directory of 100,000 files costs one fd.
//
// Concurrency: in the read-only union every field is immutable once the node is published,
// except the atomic caches, so readers take no lock. (The writable layer adds a per-node mutex
// for the fields copy-up and rename change; the fields it will guard are marked below.)
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fs/base/unique_fd.h"

namespace strata::core {

// Strong id handed to the kernel as the FUSE node id. Never a pointer; 1 is the root.
struct InodeId {
  uint64_t value = 0;
  friend bool operator==(InodeId, InodeId) = default;
};
inline constexpr InodeId kRootId{1};

// The real directory backing a merged directory in one layer.
struct DirReal {
  int layer = 0;                 // index in the LayerStack, 0 = topmost
  UniqueFd fd;                   // O_PATH | O_DIRECTORY
  bool xattr_whiteouts = false;  // children may be xattr whiteouts
};

// Identity of the topmost real object: the key that dedups lookups (hard links share one node).
struct OriginKey {
  uint64_t dev = 0;
  uint64_t ino = 0;
  friend bool operator==(const OriginKey&, const OriginKey&) = default;
};

struct Inode {
  InodeId id;  // set by InodeTable when published
  OriginKey origin;
  mode_t type = 0;      // S_IFMT bits of the topmost real object
  uint64_t st_ino = 0;  // the st_ino shown to users (stable across remounts)

  // Directories: the real directories merged here, topmost first, cut at the first opaque one.
  std::vector<DirReal> dir_reals;  // (writable layer: guarded)
  uint64_t parent_st_ino = 0;      // for "..": the root's own st_ino at the root

  // Non-directories: where the real object lives.
  std::shared_ptr<Inode> parent;  // keeps parent_fd alive (writable layer: guarded)
  std::string name;               // (writable layer: guarded)
  int layer = 0;
  int parent_fd = -1;  // borrowed from parent->dir_reals

  // Merged directories: 2 + number of merged subdirectories, computed on first getattr.
  std::atomic<uint32_t> merged_nlink{0};

  bool IsDir() const { return S_ISDIR(type); }
};

}  // namespace strata::core
