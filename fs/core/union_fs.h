// UnionFs: the merged, read-only view of a LayerStack. No libfuse types: every call takes
// InodeIds and plain values and returns Result, so it is testable with no kernel.
//
// Lookup semantics (SPEC.md section 3): layers are walked top-down; a whiteout (any encoding in
// layer_format.h) hides the name in all lower layers; a non-directory hides everything below it;
// directories merge until one is opaque. Names starting ".wh." never exist in the merged view.
//
// Which layer's error wins: the walk stops at the first layer that answers with an errno other
// than ENOENT/ENOTDIR, and that errno is returned (an unreadable upper directory must not let a
// lower file show through).
//
// Thread-safety: all methods may be called concurrently from any number of threads.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fs/base/status.h"
#include "fs/base/unique_fd.h"
#include "fs/core/inode_table.h"
#include "fs/core/layer_stack.h"

namespace strata::core {

struct UnionConfig {
  std::vector<std::string> lowerdirs;  // topmost first
  bool static_nlink = false;           // report st_nlink 1 for every directory
};

struct Entry {
  InodeId id;
  struct stat attr;
};

struct DirEntry {
  std::string name;
  uint64_t ino = 0;  // equals the entry's st_ino
  uint8_t d_type = 0;
  // Position, in the directory's real directories, of the one holding the entry: lets
  // LookupListed skip probing the layers above. Unused for "." and "..".
  uint32_t real_index = 0;
};

struct Caller {
  uid_t uid = 0;
  gid_t gid = 0;
};

class UnionFs {
 public:
  // Opens every layer. Errors as LayerStack::Open, plus the errno reading a root's markers.
  static Result<std::unique_ptr<UnionFs>> Open(const UnionConfig& config);

  // Looks NAME up in directory PARENT. On success the entry's lookup count was incremented:
  // the caller hands it to the kernel or undoes it with Forget(id, 1).
  // Errors: ESTALE unknown parent, ENOTDIR parent not a directory, ENAMETOOLONG, ENOENT,
  // or the errno of the first layer that failed.
  Result<Entry> Lookup(InodeId parent, std::string_view name);

  // Lookup of an entry from a ReadDir listing of PARENT (readdirplus): starts at the real
  // directory the listing found it in instead of probing every layer above. Exact while the
  // layers do not change under the mount (the read-only union); falls back to Lookup if the
  // entry is no longer there. Same contract and errors as Lookup.
  Result<Entry> LookupListed(InodeId parent, const DirEntry& listed);

  void Forget(InodeId id, uint64_t nlookup) { table_.Forget(id, nlookup); }

  // Errors: ESTALE, or the errno of the real object's stat.
  Result<struct stat> GetAttr(InodeId id);
  // Errors: ESTALE, EINVAL if not a symlink.
  Result<std::string> ReadLink(InodeId id);
  Result<struct statvfs> StatFs();
  // Checks MASK (R_OK|W_OK|X_OK, or F_OK) for CALLER against the merged attributes; W_OK is
  // EROFS on this read-only union. Errors: ESTALE, EACCES, EROFS.
  Status Access(InodeId id, int mask, const Caller& caller);

  // Opens the real file for reading. Errors: ESTALE, EISDIR, EROFS for any write access or
  // O_TRUNC, or the errno of open.
  Result<UniqueFd> OpenFile(InodeId id, int flags);

  // The merged listing of directory ID, "." and ".." first, each name once, in a stable order.
  // Errors: ESTALE, ENOTDIR, or the errno reading a layer's directory.
  Result<std::vector<DirEntry>> ReadDir(InodeId id);

  // Extended attributes of the topmost real object; overlay-private names are hidden (ENODATA).
  Result<std::string> GetXattr(InodeId id, const std::string& name);
  // Names, each NUL-terminated, private ones removed.
  Result<std::string> ListXattr(InodeId id);

  const LayerStack& layers() const { return layers_; }
  size_t InodeCount() const { return table_.Size(); }

 private:
  UnionFs(UnionConfig config, LayerStack layers, std::shared_ptr<Inode> root);

  // Lookup from real directory `start` of PARENT down, with the name known not to be hidden
  // by anything above it.
  Result<Entry> LookupFrom(const std::shared_ptr<Inode>& parent, const std::string& name,
                           size_t start);
  // Resolves the remaining real directories of a merged directory whose topmost real is already
  // in node->dir_reals, scanning PARENT's reals after index `next`.
  Status CompleteDir(const Inode& parent, size_t next, std::string_view name, Inode* node);
  Result<std::shared_ptr<Inode>> Resolve(InodeId id);
  // lstat of the topmost real object, with st_ino (and directory nlink) as users see them.
  Result<struct stat> Stat(const Inode& node);
  // Directory st_nlink: 1 with static_nlink, else 2 + merged subdirectories (fuse-overlayfs
  // does the same; kernel overlayfs reports 1 for merged directories).
  void PresentDirNlink(Inode& node, struct stat* st);
  uint32_t MergedNlink(Inode& node);
  // Path usable with l*xattr(2) for the node's real object.
  std::string XattrPath(const Inode& node) const;

  UnionConfig config_;
  LayerStack layers_;
  InodeTable table_;
};

}  // namespace strata::core
