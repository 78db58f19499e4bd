#include "fs/core/union_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs/core/dir_merge.h"
#include "fs/core/layer_format.h"
#include "fs/core/xattr_io.h"

namespace strata::core {
namespace {

// True if directory `dirfd` holds the OCI whiteout ".wh.NAME" (given as `wh_name`).
Result<bool> HasOciWhiteout(int dirfd, const std::string& wh_name) {
  struct stat st;
  if (::fstatat(dirfd, wh_name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return true;
  if (errno == ENOENT || errno == ENAMETOOLONG) return false;
  return FailErrno("stat whiteout");
}

// Names that never exist in the merged view (and must not reach a layer as a path).
bool NeverVisible(std::string_view name) {
  return name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos ||
         HasWhiteoutPrefix(name);
}

bool IsWhiteout(const DirReal& real, const std::string& name, const struct stat& st) {
  return IsDeviceWhiteout(st) || (real.xattr_whiteouts && IsXattrWhiteout(real.fd.Get(), name, st));
}

// Opens NAME under `parent_fd` as one real directory of a merged directory.
Result<DirReal> OpenDirReal(int layer, int parent_fd, const std::string& name, DirMarks* marks) {
  UniqueFd fd(::openat(parent_fd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return FailErrno("open layer directory");
  STRATA_ASSIGN_OR_RETURN(*marks, ReadDirMarks(fd.Get()));
  return DirReal{layer, std::move(fd), marks->xattr_whiteouts};
}

}  // namespace

UnionFs::UnionFs(UnionConfig config, LayerStack layers, std::shared_ptr<Inode> root)
    : config_(std::move(config)), layers_(std::move(layers)), table_(std::move(root)) {}

Result<std::unique_ptr<UnionFs>> UnionFs::Open(const UnionConfig& config) {
  STRATA_ASSIGN_OR_RETURN(LayerStack layers, LayerStack::Open(config.lowerdirs));
  auto root = std::make_shared<Inode>();
  root->type = S_IFDIR;
  // The root merges every layer: like kernel overlayfs, opacity is not applied to the root.
  for (size_t i = 0; i < layers.size(); ++i) {
    DirMarks marks;
    STRATA_ASSIGN_OR_RETURN(DirReal real,
                            OpenDirReal(static_cast<int>(i), layers[i].root.Get(), ".", &marks));
    root->dir_reals.push_back(std::move(real));
  }
  struct stat st;
  if (::fstat(root->dir_reals[0].fd.Get(), &st) != 0) return FailErrno("stat root");
  root->origin = OriginKey{st.st_dev, st.st_ino};
  root->st_ino = layers.MapIno(0, st.st_ino);
  root->parent_st_ino = root->st_ino;
  return std::unique_ptr<UnionFs>(new UnionFs(config, std::move(layers), std::move(root)));
}

Result<std::shared_ptr<Inode>> UnionFs::Resolve(InodeId id) {
  auto node = table_.Get(id);
  if (!node) return Fail(ESTALE);
  return node;
}

Result<Entry> UnionFs::Lookup(InodeId parent_id, std::string_view name) {
  STRATA_ASSIGN_OR_RETURN(auto parent, Resolve(parent_id));
  if (!parent->IsDir()) return Fail(ENOTDIR);
  if (name.size() > NAME_MAX) return Fail(ENAMETOOLONG);
  if (NeverVisible(name)) return Fail(ENOENT);
  return LookupFrom(parent, std::string(name), 0);
}

Result<Entry> UnionFs::LookupListed(InodeId parent_id, const DirEntry& listed) {
  STRATA_ASSIGN_OR_RETURN(auto parent, Resolve(parent_id));
  if (!parent->IsDir()) return Fail(ENOTDIR);
  if (NeverVisible(listed.name) || listed.real_index >= parent->dir_reals.size()) {
    return Lookup(parent_id, listed.name);
  }
  auto entry = LookupFrom(parent, listed.name, listed.real_index);
  if (!entry && entry.error().code == ENOENT) return Lookup(parent_id, listed.name);
  return entry;
}

Result<Entry> UnionFs::LookupFrom(const std::shared_ptr<Inode>& parent, const std::string& name,
                                  size_t start) {
  const std::string wh_name = std::string(kWhiteoutPrefix) + name;

  // Find the topmost real object; it alone decides the node's identity.
  struct stat st;
  size_t found = parent->dir_reals.size();
  for (size_t i = start; i < parent->dir_reals.size(); ++i) {
    const DirReal& real = parent->dir_reals[i];
    if (::fstatat(real.fd.Get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (IsWhiteout(real, name, st)) return Fail(ENOENT);
      found = i;
      break;
    }
    if (errno != ENOENT) return FailErrno("lookup");
    STRATA_ASSIGN_OR_RETURN(bool whited, HasOciWhiteout(real.fd.Get(), wh_name));
    if (whited) return Fail(ENOENT);
  }
  if (found == parent->dir_reals.size()) return Fail(ENOENT);

  const OriginKey key{st.st_dev, st.st_ino};
  std::shared_ptr<Inode> node = table_.FindAndRef(key);
  if (!node) {
    const DirReal& top = parent->dir_reals[found];
    auto fresh = std::make_shared<Inode>();
    fresh->origin = key;
    fresh->type = st.st_mode & S_IFMT;
    fresh->st_ino = layers_.MapIno(top.layer, st.st_ino);
    if (fresh->IsDir()) {
      fresh->parent_st_ino = parent->st_ino;
      DirMarks marks;
      STRATA_ASSIGN_OR_RETURN(DirReal real, OpenDirReal(top.layer, top.fd.Get(), name, &marks));
      fresh->dir_reals.push_back(std::move(real));
      STRATA_ASSIGN_OR_RETURN(bool whited, HasOciWhiteout(top.fd.Get(), wh_name));
      if (!marks.opaque && !whited) {
        STRATA_RETURN_IF_ERROR(CompleteDir(*parent, found + 1, name, fresh.get()));
      }
    } else {
      fresh->parent = parent;
      fresh->name = name;
      fresh->layer = top.layer;
      fresh->parent_fd = top.fd.Get();
    }
    node = table_.InsertAndRef(std::move(fresh));
  }
  st.st_ino = node->st_ino;
  PresentDirNlink(*node, &st);
  return Entry{node->id, st};
}

Status UnionFs::CompleteDir(const Inode& parent, size_t next, std::string_view name_view,
                            Inode* node) {
  const std::string name(name_view);
  const std::string wh_name = std::string(kWhiteoutPrefix) + name;
  for (size_t i = next; i < parent.dir_reals.size(); ++i) {
    const DirReal& real = parent.dir_reals[i];
    struct stat st;
    if (::fstatat(real.fd.Get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) return FailErrno("lookup");
    } else if (!S_ISDIR(st.st_mode)) {
      return Ok();  // a whiteout or a non-directory hides everything below
    } else {
      DirMarks marks;
      STRATA_ASSIGN_OR_RETURN(DirReal lower, OpenDirReal(real.layer, real.fd.Get(), name, &marks));
      node->dir_reals.push_back(std::move(lower));
      if (marks.opaque) return Ok();
    }
    STRATA_ASSIGN_OR_RETURN(bool whited, HasOciWhiteout(real.fd.Get(), wh_name));
    if (whited) return Ok();
  }
  return Ok();
}

void UnionFs::PresentDirNlink(Inode& node, struct stat* st) {
  if (!node.IsDir()) return;
  if (config_.static_nlink) {
    st->st_nlink = 1;
  } else if (node.dir_reals.size() > 1) {
    st->st_nlink = MergedNlink(node);
  }  // a directory from one layer keeps its real count: its subdirectories are all visible
}

uint32_t UnionFs::MergedNlink(Inode& node) {
  uint32_t cached = node.merged_nlink.load(std::memory_order_relaxed);
  if (cached != 0) return cached;
  auto entries = MergeDirectory(node, layers_);
  if (!entries) return 1;  // "unknown", as kernel overlayfs reports for merged dirs
  uint32_t nlink = 0;      // "." and ".." are in the listing: 2 + subdirectories
  for (const DirEntry& e : *entries) nlink += e.d_type == DT_DIR ? 1 : 0;
  node.merged_nlink.store(nlink, std::memory_order_relaxed);
  return nlink;
}

Result<struct stat> UnionFs::Stat(const Inode& node) {
  struct stat st;
  int rc = node.IsDir()
               ? ::fstatat(node.dir_reals[0].fd.Get(), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)
               : ::fstatat(node.parent_fd, node.name.c_str(), &st, AT_SYMLINK_NOFOLLOW);
  if (rc != 0) return FailErrno("stat");
  st.st_ino = node.st_ino;
  return st;
}

Result<struct stat> UnionFs::GetAttr(InodeId id) {
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  STRATA_ASSIGN_OR_RETURN(struct stat st, Stat(*node));
  PresentDirNlink(*node, &st);
  return st;
}

Result<std::string> UnionFs::ReadLink(InodeId id) {
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  if (!S_ISLNK(node->type)) return Fail(EINVAL);
  std::string target(PATH_MAX, '\0');
  ssize_t n = ::readlinkat(node->parent_fd, node->name.c_str(), target.data(), target.size());
  if (n < 0) return FailErrno("readlink");
  target.resize(static_cast<size_t>(n));
  return target;
}

Result<struct statvfs> UnionFs::StatFs() {
  struct statvfs sv;
  if (::fstatvfs(layers_[0].root.Get(), &sv) != 0) return FailErrno("statfs");
  return sv;
}

Status UnionFs::Access(InodeId id, int mask, const Caller& caller) {
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  if (mask == F_OK) return Ok();
  if (mask & W_OK) return Fail(EROFS);
  STRATA_ASSIGN_OR_RETURN(struct stat st, Stat(*node));
  if (caller.uid == 0) {
    // root may read anything and execute anything with an x bit (or any directory)
    if ((mask & X_OK) && !S_ISDIR(st.st_mode) && !(st.st_mode & 0111)) return Fail(EACCES);
    return Ok();
  }
  mode_t bits = st.st_mode & 07;
  if (caller.uid == st.st_uid) {
    bits = (st.st_mode >> 6) & 07;
  } else if (caller.gid == st.st_gid) {
    bits = (st.st_mode >> 3) & 07;
  }
  const mode_t want = ((mask & R_OK) ? 4 : 0) | ((mask & X_OK) ? 1 : 0);
  if ((bits & want) != want) return Fail(EACCES);
  return Ok();
}

Result<UniqueFd> UnionFs::OpenFile(InodeId id, int flags) {
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  if (node->IsDir()) return Fail(EISDIR);
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) return Fail(EROFS);
  const int real_flags = (flags & ~(O_CREAT | O_EXCL | O_NOCTTY)) | O_NOFOLLOW | O_CLOEXEC;
  UniqueFd fd(::openat(node->parent_fd, node->name.c_str(), real_flags));
  if (!fd) return FailErrno("open");
  return fd;
}

Result<std::vector<DirEntry>> UnionFs::ReadDir(InodeId id) {
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  if (!node->IsDir()) return Fail(ENOTDIR);
  return MergeDirectory(*node, layers_);
}

std::string UnionFs::XattrPath(const Inode& node) const {
  return node.IsDir() ? ProcFdPath(node.dir_reals[0].fd.Get())
                      : ProcFdPath(node.parent_fd, node.name);
}

Result<std::string> UnionFs::GetXattr(InodeId id, const std::string& name) {
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  if (IsPrivateXattr(name)) return Fail(ENODATA);
  return ReadXattr(XattrPath(*node), name.c_str(), node->IsDir() ? Follow::kYes : Follow::kNo);
}

Result<std::string> UnionFs::ListXattr(InodeId id) {
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  STRATA_ASSIGN_OR_RETURN(std::string names,
                          ListXattrs(XattrPath(*node), node->IsDir() ? Follow::kYes : Follow::kNo));
  std::string visible;
  size_t pos = 0;
  while (pos < names.size()) {
    std::string_view item(names.data() + pos);
    pos += item.size() + 1;
    if (IsPrivateXattr(item)) continue;
    visible.append(item);
    visible.push_back('\0');
  }
  return visible;
}

}  // namespace strata::core
