// UnionFs: the merged view of a LayerStack, writable when an upper layer is configured. No
// libfuse types: every call takes InodeIds and plain values and returns Result, so it is
// testable with no kernel.
//
// Lookup semantics (SPEC.md section 3): layers are walked top-down; a whiteout (any encoding in
// layer_format.h) hides the name in all lower layers; a non-directory hides everything below it;
// directories merge until one is opaque. Names starting ".wh." never exist in the merged view.
//
// Which layer's error wins: the walk stops at the first layer that answers with an errno other
// than ENOENT/ENOTDIR, and that errno is returned (an unreadable upper directory must not let a
// lower file show through).
//
// Writes (SPEC.md section 3) go to the upper layer, layer 0 of the stack. Modifying an object
// of a lower layer first copies it up (parents first, atomically through the workdir, keeping
// its st_ino); removing a name that exists below leaves a whiteout; a directory created over a
// whiteout is opaque; a renamed directory with lower parts carries overlay.redirect (the kernel
// format), so no rename is EXDEV. Without an upper layer every write is EROFS.
//
// Which error wins in writes: the first failing step's errno is returned and nothing visible
// has changed (each step is a rename of a finished object), except where noted per method.
//
// Open files (file_handle.h): every handle of a node follows the node to its upper file after a
// copy-up; a file whose last name is removed (unlink, rename over it) stays fully usable
// through its handles and its node (attributes with st_nlink 0, xattrs, truncate, I/O) until
// the kernel forgets the node, which it does after the last close; then its space is freed.
// Nothing is left in the upper or workdir for it.
//
// Thread-safety: all methods may be called concurrently from any number of threads. Each
// directory's names are locked (DirState::names_mu): lookups and listings share it, operations
// that change a name in it (create, link, unlink, rmdir, rename) take it exclusively, so a
// lookup never publishes what a concurrent removal took away. Copy-up and the operations that
// move a node are serialised per node (Inode::op_mu). Lock order in inode.h.
#pragma once

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fs/base/status.h"
#include "fs/base/unique_fd.h"
#include "fs/core/copy_up.h"
#include "fs/core/file_handle.h"
#include "fs/core/id_map.h"
#include "fs/core/inode_table.h"
#include "fs/core/kernel_cache.h"
#include "fs/core/layer_format.h"
#include "fs/core/layer_stack.h"
#include "fs/core/override_stat.h"
#include "fs/core/upper_layer.h"

namespace strata::core {

struct UnionConfig {
  std::vector<std::string> lowerdirs;  // topmost first
  // Data-only layers (after "::" in lowerdir=), below every lower layer: never merged or
  // listed, reached only through the absolute overlay.redirect of a metacopy file.
  std::vector<std::string> datadirs;
  std::string upperdir;        // empty: a read-only union
  std::string workdir;         // required with upperdir
  bool fsync = true;           // fsync copied-up data (off: fsync=0, volatile)
  bool userxattr = false;      // markers in user.overlay.* even when privileged
  bool static_nlink = false;   // report st_nlink 1 for every directory
  bool xattrs = true;          // false (noxattrs=1): every xattr call is ENOTSUP
  bool oci_whiteouts = false;  // UpperConfig::oci_whiteouts
  IdMap ids;                   // owners as shown and as stored
  // xattr_permissions=1|2: the override_stat xattr (override_stat.h) that keeps owners and
  // modes instead of chown/chmod; empty: off.
  std::string override_xattr;
  // Lookups in one directory that probe 3+ lower layers before its lower names are indexed
  // (lower_index.h): 0 indexes at the first; negative never.
  int index_lookups_after = 4;
  // metacopy=on: a change of only a regular lower file's attributes or xattrs copies up its
  // metadata (a sparse file marked overlay.metacopy, the kernel's format); its data is copied
  // when it is opened for writing, truncated, linked, renamed or chattr'ed. Metacopy files in
  // the layers are followed whatever this says.
  bool metacopy = false;
  // How many directories' fds may stay open (dir_fd.h); 0: a quarter of the soft
  // RLIMIT_NOFILE at Open, at least 64. Layer roots hold theirs regardless.
  size_t dir_fd_budget = 0;
};

// What a write needs of a non-directory in the upper layer: its data too, or (chmod, chown,
// utimes, xattrs) only its metadata, which with metacopy=on leaves a regular file's data below.
enum class Need { kData, kMeta };

// FD (a real directory in LAYER, whose markers are MARKS; UPPER: in the upper layer) as one of
// a merged directory's (merged_dir.cc).
DirReal MakeDirReal(int layer, DirFd fd, const DirMarks& marks, bool upper);

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

// What SetAttr changes; unset fields are left alone.
struct AttrChange {
  std::optional<mode_t> mode;
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  std::optional<off_t> size;
  std::optional<struct timespec> atime;  // tv_nsec may be UTIME_NOW
  std::optional<struct timespec> mtime;
  int fd = -1;  // an open handle of the file, if the kernel gave one (truncate through it)
};

// An entry created by Create, with the real file open as asked (null for the other kinds).
struct Created {
  Entry entry;
  std::unique_ptr<FileHandle> handle;
};

class UnionFs {
 public:
  // Opens every layer. Errors as LayerStack::Open and UpperLayer::Open, plus the errno reading
  // a root's markers.
  static Result<std::unique_ptr<UnionFs>> Open(const UnionConfig& config);

  bool writable() const { return upper_ != nullptr; }

  // Where the core reports what the kernel may have cached and can no longer trust (null: no
  // kernel, as in unit tests). Set before serving requests; CACHE must outlive its use.
  void SetKernelCache(KernelCache* cache) { kernel_cache_ = cache; }

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
  // False for a file on a writable mount that has had several links while the kernel used it:
  // its st_nlink must come from the daemon every time. After unlink or rename over one of its
  // names the kernel counts its cached st_nlink down, and a concurrent reply about another of
  // its names may already have counted that change (the kernel's attribute versions cannot
  // order the two); a reply computed then must not be cached either, hence "has had".
  bool KernelMayCacheAttr(InodeId id) const;
  // Errors: ESTALE, EINVAL if not a symlink.
  Result<std::string> ReadLink(InodeId id);
  // The upper layer's filesystem (else the top lower layer's). Where whiteouts are ".wh.NAME"
  // files, f_namemax is 4 less: a longer name could not be removed from a lower layer (such a
  // removal is ENAMETOOLONG).
  Result<struct statvfs> StatFs();
  // Checks MASK (R_OK|W_OK|X_OK, or F_OK) for CALLER against the merged attributes; W_OK is
  // EROFS without an upper layer. Errors: ESTALE, EACCES, EROFS.
  Status Access(InodeId id, int mask, const Caller& caller);

  // Opens the real file as a handle that follows the node (file_handle.h). Write access or
  // O_TRUNC copies it up first. Errors: ESTALE, EISDIR, EROFS for writes without an upper
  // layer, or the errno of copy-up or open.
  Result<std::unique_ptr<FileHandle>> OpenFile(InodeId id, int flags);
  // The descriptor to do HANDLE's I/O on now: the node's current real file (reopened with the
  // handle's flags if the node was copied up since). Borrowed: valid until HANDLE is destroyed.
  // Errors: the errno of reopening.
  Result<int> HandleFd(FileHandle& handle);
  // fsync(2) (fdatasync(2) with DATASYNC) of HANDLE's file: its data, and for fsync also the
  // upper object holding its attributes when that is not the one holding its data (a metacopy
  // file, whose data opens go below: a chmod's metadata-only copy-up must be synced too), as
  // kernel overlayfs's fsync does. Errors: the errno of reopening or syncing.
  Status Fsync(FileHandle& handle, bool datasync);
  // Runs WRITE on HANDLE's descriptor for data the kernel's writeback cache flushes, keeping
  // the real file's mtime: the kernel stamped the data when it took it and sends that time by
  // setattr itself, possibly before this flush. Under the node's op_mu, as setattr, so neither
  // undoes the other. Returns WRITE's result (keeping the mtime is best effort).
  Result<size_t> FlushCachedWrite(FileHandle& handle,
                                  const std::function<Result<size_t>(int fd)>& write);

  // --- writes; each is EROFS without an upper layer, ESTALE for an unknown id ---

  // Creates NAME in PARENT: a regular file, FIFO, socket or device (MakeNode), a directory
  // (MakeDir), a symlink (MakeSymlink), or a regular file opened with FLAGS (Create). Owned by
  // CALLER (the group is PARENT's if PARENT is setgid). MODE is used as given (the kernel has
  // applied the umask). The new entry's lookup count is 1. Errors: EEXIST if NAME exists,
  // ENOTDIR, ENAMETOOLONG, EINVAL for a name that can never exist (".wh.*"), or the errno of
  // the real operation.
  Result<Entry> MakeNode(InodeId parent, std::string_view name, mode_t mode, dev_t rdev,
                         const Caller& caller);
  Result<Entry> MakeDir(InodeId parent, std::string_view name, mode_t mode, const Caller& caller);
  Result<Entry> MakeSymlink(InodeId parent, std::string_view name, const std::string& target,
                            const Caller& caller);
  Result<Created> Create(InodeId parent, std::string_view name, mode_t mode, int flags,
                         const Caller& caller);
  // A new name NEW_NAME in NEW_PARENT for non-directory ID (copied up first). The entry's
  // lookup count is incremented. Errors: EPERM for a directory, EEXIST, or the real errno.
  Result<Entry> Link(InodeId id, InodeId new_parent, std::string_view new_name);
  // Removes NAME (a non-directory / an empty directory). Errors: ENOENT, EISDIR/ENOTDIR,
  // ENOTEMPTY, or the real errno.
  Status Unlink(InodeId parent, std::string_view name);
  Status Rmdir(InodeId parent, std::string_view name);
  // rename(2)/renameat2(2) with FLAGS 0, RENAME_NOREPLACE or RENAME_EXCHANGE. Directories of
  // lower layers move without EXDEV. Errors: ENOENT, EEXIST (NOREPLACE), ENOTEMPTY, EINVAL for
  // other flags, or the real errno.
  Status Rename(InodeId parent, std::string_view name, InodeId new_parent,
                std::string_view new_name, unsigned flags);
  // chmod/chown/truncate/utimensat; copies up first. Returns the new attributes.
  Result<struct stat> SetAttr(InodeId id, const AttrChange& change);
  // setxattr(2)/removexattr(2) on the object (copied up first; removing a name the object does
  // not have is ENODATA with no copy-up). Overlay-private names: EPERM.
  // (xattr_io.h Follow is used for the real path.)
  Status SetXattr(InodeId id, const std::string& name, const std::string& value, int flags);
  Status RemoveXattr(InodeId id, const std::string& name);
  // fsync(2) of directory ID's upper directory, if it has one.
  Status SyncDir(InodeId id, bool datasync);

  // The file-attribute ioctls (chattr/lsattr) on a regular file or directory: CMD is
  // FS_IOC_GETFLAGS/SETFLAGS (DATA an int) or FS_IOC_FSGETXATTR/FSSETXATTR (DATA a struct
  // fsxattr); the set variants copy up first. Errors: ENOTTY for other commands or types,
  // EROFS (set, read-only union), or the errno of the real ioctl.
  Status FileAttrIoctl(InodeId id, unsigned cmd, void* data);

  // The merged listing of directory ID, "." and ".." first, each name once, in a stable order.
  // Errors: ESTALE, ENOTDIR, or the errno reading a layer's directory.
  Result<std::vector<DirEntry>> ReadDir(InodeId id);

  // Extended attributes of the topmost real object; overlay-private names are hidden (ENODATA).
  // With xattrs off (noxattrs=1) these and SetXattr/RemoveXattr are ENOTSUP.
  Result<std::string> GetXattr(InodeId id, const std::string& name);
  // Names, each NUL-terminated, private ones removed.
  Result<std::string> ListXattr(InodeId id);

  const LayerStack& layers() const { return layers_; }
  size_t InodeCount() const { return table_.Size(); }
  // The bound on the nodes the kernel holds (InodeTable::SetBudget, fuse/node_pruner.h): set
  // before serving requests.
  void SetNodeBudget(size_t budget, std::function<void()> on_over) {
    table_.SetBudget(budget, std::move(on_over));
  }
  void ReArmNodeBudget() { table_.ReArm(); }
  std::vector<InodeId> PruneCandidates(size_t n) { return table_.PruneCandidates(n); }
  // The budget of directories' open fds (dir_fd.h).
  const FdBudget& dir_fds() const { return *dir_fds_; }

 private:
  // Where a name was found: the index in the directory's reals and the real object's lstat.
  struct Found {
    size_t index = 0;
    struct stat st;
  };

  UnionFs(UnionConfig config, LayerStack layers, std::unique_ptr<UpperLayer> upper,
          std::unique_ptr<FdBudget> dir_fds, std::shared_ptr<Inode> root);

  // Lower directory FD (open now) at PATH beneath the root of LAYER, reopenable under the
  // budget.
  DirFd LowerDirFd(int layer, UniqueFd fd, std::string path) {
    return DirFd::Beneath(std::move(fd), layers_[layer].root.Get(), std::move(path),
                          dir_fds_.get());
  }
  // Upper directory FD (open now) of directory NODE, the real object ST: reopenable by NODE's
  // name under the budget.
  DirFd UpperDirFd(const std::shared_ptr<Inode>& node, UniqueFd fd, const struct stat& st) {
    return DirFd::From(std::move(fd), UpperDirSource(node, st.st_dev, st.st_ino), dir_fds_.get());
  }

  // The topmost real object named NAME in REALS (directory DIR's) from index START down,
  // honouring whiteouts; DIR's lower names are indexed once lookups there probe deep.
  // Errors: ENOENT (absent or whited out) or the errno of the first layer that failed.
  Result<Found> FindReal(const Inode& dir, const RealDirs& reals, const std::string& name,
                         size_t start);
  // FindReal without the index, from START; counts the lower layers probed into *PROBED.
  Result<Found> ProbeReals(const RealDirs& reals, const std::string& name, size_t start,
                           size_t first_lower, int* probed);
  // The object holding the data of metacopy file NAME, found at REALS[INDEX] with
  // overlay.redirect REDIRECT ("" for none): NAME (or a relative redirect) in the real
  // directories below INDEX, or an absolute redirect's path in the layers below, following
  // metacopy files below it. Errors: EIO if no object below holds the data (as kernel
  // overlayfs), or the errno of a probe.
  Result<std::shared_ptr<const Placement>> FindData(const std::shared_ptr<const RealDirs>& reals,
                                                    size_t index, std::string name,
                                                    std::string redirect);
  // PATH (absolute from the layer roots) in the first layer from FIRST_LAYER down that has it:
  // sets *OUT (holding its own parent directory) and *ST; false if none has it.
  Result<bool> FindByPath(const std::string& path, int first_layer, Placement* out,
                          struct stat* st);
  // Builds (or finds) the node for NAME of PARENT found at FOUND and takes a lookup count.
  Result<Entry> NodeFor(const std::shared_ptr<Inode>& parent,
                        const std::shared_ptr<const RealDirs>& reals, const std::string& name,
                        Found found);

  // Lookup from real directory `start` of PARENT down, with the name known not to be hidden
  // by anything above it.
  Result<Entry> LookupFrom(const std::shared_ptr<Inode>& parent, const std::string& name,
                           size_t start);
  // Appends to *REALS (holding the topmost real directory, whose markers are TOP_MARKS) the
  // lower real directories merged under directory NAME of a parent whose real directories are
  // PARENT_REALS, following redirects in every layer (merged_dir.cc).
  Status CompleteDir(const RealDirs& parent_reals, const std::string& name,
                     const DirMarks& top_marks, RealDirs* reals);

  Result<std::shared_ptr<Inode>> Resolve(InodeId id);
  // The merged listing of directory DIR (ReadDir without the table lookup).
  Result<std::vector<DirEntry>> ListDir(const Inode& dir);
  // lstat of the topmost real object, with st_ino (and directory nlink) as users see them.
  Result<struct stat> Stat(const Inode& node);
  // Attributes as users see them: owners through config_.ids, and directory st_nlink (1 with
  // static_nlink, else 2 + merged subdirectories, as fuse-overlayfs; kernel overlayfs reports
  // 1 for merged directories).
  void Present(Inode& node, struct stat* st);
  uint32_t MergedNlink(Inode& node);
  // Names users can neither see nor set: the overlay-private ones and the override xattr.
  bool Hidden(std::string_view name) const {
    return IsPrivateXattr(name) ||
           (!config_.override_xattr.empty() && name == config_.override_xattr);
  }
  bool Overrides() const { return !config_.override_xattr.empty(); }
  // Records the owner and mode of lower object ST on the copy at work/TMP when the source
  // carries no override (an unprivileged copy-up could not chown). Symlinks are skipped.
  Status KeepOwnerInOverride(const std::string& source_path, Follow follow, const struct stat& st,
                             const std::string& tmp);
  // An fd of the real object (regular file or directory) to ioctl on. Errors: ENOTTY, open's.
  Result<UniqueFd> OpenForIoctl(const Inode& node);
  // The real object of NODE for path-based calls (xattrs, an open for an ioctl), holding the
  // snapshot whose fd the path names, so the fd stays open while it is used. For a
  // non-directory, use it inside StablePlaced or with NODE's op_mu held (inode.h).
  struct RealRef {
    std::string path;  // "/proc/self/fd/N" (Follow::kYes) or "/proc/self/fd/P/name" (kNo)
    Follow follow = Follow::kNo;
    FdLease keep;  // the fd the path names
  };
  // Errors: reopening a lower directory's fd.
  static Result<RealRef> RefOf(const Inode& node);

  // --- the writable layer (union_write.cc, copy_up_node.cc) ---
  Status CheckWritable() const { return upper_ ? Ok() : Fail(EROFS); }
  // The upper real directory of DIR, copying DIR (and its parents) up first.
  Result<std::shared_ptr<const RealDirs>> EnsureUpperDir(const std::shared_ptr<Inode>& dir);
  // The placement of non-directory NODE in the upper layer, copying up first what NEED says.
  // The caller holds node->op_mu.
  Result<std::shared_ptr<const Placement>> EnsureUpperFile(const std::shared_ptr<Inode>& node,
                                                           Need need = Need::kData);
  // Copies the data of metacopy file PLACE (NODE's, in the upper layer) into it, in place:
  // until its marker is removed, readers use the data below. The caller holds op_mu.
  Result<std::shared_ptr<const Placement>> CopyUpData(
      const std::shared_ptr<Inode>& node, const std::shared_ptr<const Placement>& place);
  Status EnsureUpper(const std::shared_ptr<Inode>& node);
  // EnsureUpper (EnsureUpperFile with NEED), and for a non-directory its op_mu, held by the
  // returned lock, so writes through its placement cannot overlap a change of its name.
  Result<std::unique_lock<SmallMutex>> LockUpper(const std::shared_ptr<Inode>& node,
                                                 Need need = Need::kData);
  // Like EnsureUpperFile, and NAME in PARENT (one of the node's names) is an upper name of the
  // copy (a lower alias of a copied-up hard link is linked up). The caller holds op_mu.
  Result<std::shared_ptr<const Placement>> EnsureUpperName(const std::shared_ptr<Inode>& node,
                                                           const std::shared_ptr<Inode>& parent,
                                                           const std::string& name);
  // Removing NAME, a name of non-directory NODE in PARENT (upper directory REALS[0]): a lower
  // hard link is indexed first; if NAME is where NODE lives, an upper object is anchored (it
  // stays usable, and its inode number taken, while the node exists). The caller holds
  // node->op_mu, removes NAME, then calls FinishRemoval.
  struct Removal {
    Found now;  // NAME as it is before the removal
    std::shared_ptr<const Placement> place;
    bool was_placement = false;
    std::shared_ptr<UniqueFd> anchor;
  };
  Result<Removal> PrepareRemoval(const std::shared_ptr<Inode>& node,
                                 const std::shared_ptr<Inode>& parent, const RealDirs& reals,
                                 const std::string& name);
  void FinishRemoval(Inode& node, const Removal& removal);
  // Opens the real object PLACE names with open(2) FLAGS (never following a symlink).
  static Result<UniqueFd> OpenReal(const Placement& place, int flags);
  // Copies NODE, a lower file whose name was removed (placement.removed), to an upper object
  // with no name, reached through an anchor. The caller holds op_mu.
  Result<std::shared_ptr<const Placement>> CopyUpRemoved(const std::shared_ptr<Inode>& node,
                                                         const Placement& place);
  // NODE's data now lives in PLACE (a copy-up): handles reopen, the kernel rereads attributes.
  void Moved(Inode& node, std::shared_ptr<const Placement> place);
  // Tells the kernel that NODE's attributes changed behind its back (kernel_cache.h). Only for
  // nodes the current request holds (so the kernel's inode is not being evicted).
  void NotifyAttr(const Inode& node) {
    if (kernel_cache_ != nullptr) kernel_cache_->InvalidateAttr(node.id);
  }
  // Adds DELTA to the count of not-yet-linked lower names on the indexed copy at PATH (a
  // "/proc/self/fd/N/name" path); nothing if PATH is not an indexed copy.
  void AdjustLowerLinks(const std::string& path, int delta);
  // Renames work/TMP to NAME in upper directory UPFD (replacing a whiteout there). For a
  // copy-up into directory COPY_UP_INTO (whose upper directory UPFD is), UPFD is marked
  // impure first and its times are kept (copy-up changes nothing the user sees in the parent).
  Status Publish(const std::string& tmp, int upfd, const std::string& name, Inode* copy_up_into);
  // True if a layer below the upper one shows NAME in directory REALS (whose reals[0] is the
  // upper directory): removing NAME then needs a whiteout.
  Result<bool> ExistsBelow(const Inode& dir, const RealDirs& reals, const std::string& name);
  // Removes NAME from upper directory UPFD (a directory: with what it contains) and, when
  // WHITEOUT, leaves a whiteout in its place.
  Status RemoveUpper(int upfd, const std::string& name, bool whiteout);
  // Writes a whiteout for NAME in upper directory UPFD where nothing of NAME is in the upper.
  Status WriteWhiteout(int upfd, const std::string& name);
  // The common part of MakeNode/MakeDir/MakeSymlink/Create: BUILD makes the object as TMP in
  // the workdir (returning an open fd for Create), owned by CALLER, then it is published.
  struct Made {
    Entry entry;
    UniqueFd fd;  // what BUILD opened, if anything
  };
  template <typename Build>
  Result<Made> MakeEntry(InodeId parent_id, std::string_view name, mode_t type,
                         const Caller& caller, Build&& build);
  Status SetMarker(const std::string& path, std::string_view suffix, const std::string& value);
  // Before upper directory DIR (its fd UPFD) moves: it must not merge with lower directories at its
  // new name, so it gets overlay.redirect to its lower path if it has lower parts, else (when
  // COVERED: lower objects exist at the new name) overlay.opaque.
  Status MarkMoved(const std::shared_ptr<Inode>& dir, int upfd, bool covered);
  // The directory ID (EROFS without an upper layer, ENOTDIR for a non-directory).
  Result<std::shared_ptr<Inode>> ResolveDir(InodeId id);
  // NAME may be created in PARENT: a valid name (ENAMETOOLONG, EINVAL for ".wh.*" and the
  // like) that PARENT does not show (EEXIST).
  Status CheckNewEntry(const Inode& parent, const std::string& name);
  // Marks upper directory UPFD of directory DIR as holding objects with a kept st_ino (see
  // layer_format.h), unless DIR knows it is marked.
  Status MarkImpure(Inode& dir, int upfd);
  bool IsImpure(int upfd) const;
  Result<std::shared_ptr<Inode>> Child(const std::shared_ptr<Inode>& parent,
                                       const std::string& name, Found* found);
  // DIR's merged listing changed: what was computed from it is stale.
  void Invalidate(Inode& dir) { dir.dir->changes.fetch_add(1, std::memory_order_acq_rel); }
  CopyOptions copy_options() const;

  UnionConfig config_;
  LayerStack layers_;
  std::unique_ptr<UpperLayer> upper_;  // null: read-only
  std::unique_ptr<FdBudget> dir_fds_;  // before table_: the nodes' DirFds use it
  InodeTable table_;
  KernelCache* kernel_cache_ = nullptr;
};

}  // namespace strata::core
