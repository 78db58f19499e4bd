// Inodes of the merged tree.
//
// Lifetimes: an Inode is created by UnionFs::Lookup (or a create-style call), published in the
// InodeTable and shared (std::shared_ptr) with every operation and open file that is using it,
// so a concurrent forget never frees a node under a running op. A node's Placement keeps its
// parent directory alive, and with it the parent's RealDirs snapshot whose directory the node
// is reached through. A directory has a DirFd per layer it is present in (dir_fd.h), opened on
// demand under the mount's fd budget: a lower one by its path in its layer, an upper one by the
// node's current name (UpperDirSource).
//
// Identity cannot alias: a node's real object stays alive while the node exists, so no other
// object can take its inode number (the table's key) meanwhile. Layers below the upper never
// change, so their objects never go away; an upper directory keeps its name while its node
// exists, or is pinned open before it loses it (rmdir, rename over it); and an
// upper non-directory whose name is removed while the node exists is anchored first
// (Placement::anchor, an O_PATH fd of the object), which also keeps it usable through open
// files until the kernel forgets the node.
//
// Mutability: copy-up, rename and unlink change where a node lives. Those fields are immutable
// snapshots (RealDirs, Placement) swapped as a whole under `mu`, which is held only to copy or
// replace a shared_ptr, never across a syscall; readers take a snapshot and work on it without
// locks. `op_mu` serialises the operations that move this node on disk (copy-up, unlink, rename,
// setattr, link); it is held across syscalls.
//
// Placement by name: a non-directory reaches its real object through its parent's directory
// fd and its name, so a name change of that object (rename, unlink, rename over it) must not
// overlap a use of the old placement. Writers hold op_mu and bracket the change with a
// NameChange (odd `name_seq` while it lasts); readers that act on the object through a
// placement run in StablePlaced, which repeats them if a change overlapped, so a stat, open or
// xattr read never reports another object (or a whiteout) as the node. Writes through the
// placement hold op_mu instead.
//
// Names: a directory's `names_mu` (DirState) is held shared by lookups and listings in it and
// exclusively by every operation that adds, removes or replaces a name in it, so what a lookup
// found is still there when its node is published. (The kernel serialises changes of a directory
// with its own lookups, but not its revalidating lookups of cached names, which run unlocked.)
//
// Lock order: names_mu before op_mu; names_mu of two directories only in rename, in increasing
// id order (the kernel's own locks keep two such renames from crossing). op_mu of a node before
// op_mu of its ancestors (a copy-up holds the node's while
// EnsureUpperDir copies its parents up, each under its own op_mu, taken and released one at a
// time); rename first copies up everything it moves, then takes the op_mu of its two objects
// in increasing id order; `mu` is innermost (never held while taking another lock). The kernel
// serialises name operations within a directory (the VFS holds the directory's lock).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "fs/base/small_mutex.h"
#include "fs/base/status.h"
#include "fs/base/unique_fd.h"
#include "fs/core/dir_fd.h"

namespace strata::core {

// Strong id handed to the kernel as the FUSE node id. Never a pointer; 1 is the root.
struct InodeId {
  uint64_t value = 0;
  friend bool operator==(InodeId, InodeId) = default;
};
inline constexpr InodeId kRootId{1};

// How an *at(2) call names a real object: DIRFD (kept open by KEEP), PATH, AT_* FLAGS.
struct RealAt {
  FdLease keep;
  int dirfd = -1;
  const char* path = "";  // points into the Placement, which the caller keeps
  int flags = 0;
  // DIRFD is the object itself (AT_EMPTY_PATH): a directory, or an anchored file.
  bool Self() const { return (flags & AT_EMPTY_PATH) != 0; }
  // "/proc/self/fd/N" (the object itself: a magic link to follow) or "/proc/self/fd/N/path".
  std::string Proc() const;
};

// The real directory backing a merged directory in one layer.
struct DirReal {
  int layer = 0;                 // index in the LayerStack, 0 = topmost (the upper, if any)
  DirFd fd;                      // O_PATH | O_DIRECTORY
  bool xattr_whiteouts = false;  // children may be xattr whiteouts
  // A lower layer that was once an upper layer: the xattr prefix under which this directory's
  // entries may keep an st_ino (it is marked impure), else empty. The upper layer's own
  // directories are checked when listed instead (they become impure while mounted).
  std::string kept_ino_prefix;

  // The directory itself for *at(2) calls (AT_EMPTY_PATH), its fd open.
  Result<RealAt> At() const {
    STRATA_ASSIGN_OR_RETURN(FdLease dir, fd.Open());
    const int dirfd = dir->Get();
    return RealAt{std::move(dir), dirfd, "", AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH};
  }
};

// The real directories merged into one directory, topmost first, cut at the first opaque one.
using RealDirs = std::vector<DirReal>;

struct Inode;
struct LowerIndex;  // lower_index.h

// Where a node's name lives: its parent, its name there, and (non-directories) the layer of
// the real object and the parent's real directory in that layer.
// `anchor` (an O_PATH fd of the object itself) reaches an upper object that its name does not:
// the indexed copy of a lower hard link, or an object whose name was removed (`removed`) while
// the node is still in use (other hard links, open files).
struct Placement {
  std::shared_ptr<Inode> parent;                 // null for the root
  std::shared_ptr<const RealDirs> parent_reals;  // the real directory: [parent_index]
  std::string name;
  std::shared_ptr<const UniqueFd> anchor;
  // A metacopy file (layer_format.h kMetacopySuffix): the object below that holds its data
  // (never itself a metacopy file); null when the object holds its own data. Reads and data
  // opens go there; attributes and xattrs come from the object itself.
  std::shared_ptr<const Placement> data;
  uint32_t parent_index = 0;
  int layer = 0;
  // The name was removed from the merged view (unlink, rename over it). An upper object is then
  // anchored; a lower one stays readable at its name in its (unchanging) layer. A lookup of
  // another hard link of the object re-places the node.
  bool removed = false;

  const Placement& DataPlace() const { return data ? *data : *this; }

  // The real directory holding NAME, open.
  Result<FdLease> Dir() const { return (*parent_reals)[parent_index].fd.Open(); }
  // The real object for *at(2) calls that accept AT_EMPTY_PATH; symlinks are not followed.
  Result<RealAt> At() const;
};

// A placement in the upper directory REALS[0] of PARENT, under NAME.
std::shared_ptr<const Placement> UpperPlacement(std::shared_ptr<Inode> parent,
                                                std::shared_ptr<const RealDirs> reals,
                                                std::string name);
// linkat(2) of the object PLACE names (or anchors) to NAME in DIRFD; returns 0 or -1 (errno).
int LinkInto(const Placement& place, int dirfd, const std::string& name);

// How the upper directory of directory NODE (the real object DEV:INO) is reopened: by NODE's
// current name in its parent's upper directory, read in StablePlaced (a rename of NODE
// brackets its name change), and checked to be DEV:INO (else ESTALE). NODE's own renamer must
// hold a lease on it across the change.
std::shared_ptr<const DirFd::Source> UpperDirSource(std::weak_ptr<const Inode> node, dev_t dev,
                                                    ino_t ino);

// What only a directory node has (a file node, most of the nodes, carries none of it).
struct DirState {
  std::shared_mutex names_mu;  // see the header comment
  // Bumped by every change of the merged listing; a value computed from a listing is cached
  // tagged with the count it started at, so one filled during a change is never used.
  std::atomic<uint32_t> changes{0};
  // (changes when computed) << 32 | (2 + merged subdirectories); 0: none cached.
  std::atomic<uint64_t> merged_nlink{0};
  // Set once its upper directory carries the impure marker (copy-ups into it need not write it
  // again).
  std::atomic<bool> upper_impure{false};
  // Lookups in it that probed deep into its lower layers (UnionFs::FindReal indexes the lower
  // names once there are enough of them).
  std::atomic<uint32_t> deep_lookups{0};

 private:
  friend struct Inode;
  std::shared_ptr<const RealDirs> reals;          // guarded by the node's mu_
  std::string lower_path;                         // guarded by the node's mu_
  std::shared_ptr<const LowerIndex> lower_index;  // guarded by the node's mu_
};

// Kept small: the kernel may hold a node per file of an image (millions). 4-byte locks, and
// what only directories need in DirState.
struct Inode {
  explicit Inode(mode_t file_type)
      : type(file_type), dir(S_ISDIR(file_type) ? std::make_unique<DirState>() : nullptr) {}

  InodeId id;           // set by InodeTable when published
  uint64_t st_ino = 0;  // the st_ino shown to users, stable across copy-up and remount; the key
  const mode_t type;    // S_IFMT bits
  // Odd while a name the Placement uses is being changed (see above).
  std::atomic<uint32_t> name_seq{0};
  // Non-directories: bumped (after the new Placement is set) each time the node's data moves
  // to another real file, i.e. at copy-up; open files compare it to reopen (FileHandle).
  std::atomic<uint32_t> data_gen{0};
  SmallMutex op_mu;  // see the header comment

 private:
  mutable SmallMutex mu_;  // innermost; held only to copy or swap a pointer (here: packs in)

 public:
  // Non-directories: set once the node is seen with several links; from then on the kernel is
  // not let cache its attributes on a writable mount (UnionFs::KernelMayCacheAttr).
  std::atomic<bool> several_links{false};
  // Asked for by a request since the table's pruning clock last passed it (InodeTable).
  std::atomic<bool> used{false};
  const std::unique_ptr<DirState> dir;  // directories only

  bool IsDir() const { return S_ISDIR(type); }

  std::shared_ptr<const RealDirs> Reals() const {
    std::lock_guard lock(mu_);
    return dir->reals;
  }
  std::shared_ptr<const Placement> Place() const {
    std::lock_guard lock(mu_);
    return place_;
  }
  // The path of this directory's lower objects from the layer roots ("/" for the root): where
  // a renamed directory's lower parts are found (overlay.redirect).
  std::string LowerPath() const {
    std::lock_guard lock(mu_);
    return dir->lower_path;
  }
  void SetReals(std::shared_ptr<const RealDirs> reals) {
    std::lock_guard lock(mu_);
    dir->reals = std::move(reals);
  }
  void SetPlace(std::shared_ptr<const Placement> place) {
    std::lock_guard lock(mu_);
    place_ = std::move(place);
  }
  void SetLowerPath(std::string path) {
    std::lock_guard lock(mu_);
    dir->lower_path = std::move(path);
  }
  std::shared_ptr<const LowerIndex> Index() const {
    std::lock_guard lock(mu_);
    return dir->lower_index;
  }
  // A cache of what the (immutable) lower layers hold: set through a const node.
  void SetIndex(std::shared_ptr<const LowerIndex> index) const {
    std::lock_guard lock(mu_);
    dir->lower_index = std::move(index);
  }

 private:
  std::shared_ptr<const Placement> place_;  // guarded by mu_
};

// Marks a change of the name NODE's placement uses, for its lifetime (the caller holds
// node.op_mu, so changes of one node never nest). While it lasts, the caller must not open
// NODE's upper fd (a directory's) or one below it unless it holds a lease on NODE's.
class NameChange {
 public:
  explicit NameChange(Inode& node) : node_(node) {
    node_.name_seq.fetch_add(1, std::memory_order_acq_rel);
  }
  ~NameChange() { node_.name_seq.fetch_add(1, std::memory_order_release); }
  NameChange(const NameChange&) = delete;
  NameChange& operator=(const NameChange&) = delete;

 private:
  Inode& node_;
};

// Runs FN, which reads NODE's Placement and acts on the real object through it, until no name
// change of NODE overlapped the run; returns its result. A directory's name change is
// bracketed too (its upper fd is reopened by name, UpperDirSource).
template <typename Fn>
auto StablePlaced(const Inode& node, Fn&& fn) -> decltype(fn()) {
  for (;;) {
    const uint32_t seq = node.name_seq.load(std::memory_order_acquire);
    if (seq & 1) {
      std::this_thread::yield();
      continue;
    }
    auto result = fn();
    if (node.name_seq.load(std::memory_order_acquire) == seq) return result;
  }
}

}  // namespace strata::core
