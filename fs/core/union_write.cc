// UnionFs: the operations that change the merged tree. Each ends in one rename (or link,
// unlink) of a finished object in the upper layer, so a crash shows the tree before or after.
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fs/core/layer_format.h"
#include "fs/core/union_fs.h"

namespace strata::core {
namespace {

Status CheckNewName(std::string_view name) {
  if (name.size() > NAME_MAX) return Fail(ENAMETOOLONG);
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos) {
    return Fail(EINVAL);
  }
  // ".wh." names are whiteouts in every layer format: they cannot be regular entries.
  if (HasWhiteoutPrefix(name)) return Fail(EINVAL);
  return Ok();
}

}  // namespace

Result<std::shared_ptr<Inode>> UnionFs::ResolveDir(InodeId id) {
  STRATA_RETURN_IF_ERROR(CheckWritable());
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  if (!node->IsDir()) return Fail(ENOTDIR);
  return node;
}

Result<std::shared_ptr<Inode>> UnionFs::Child(const std::shared_ptr<Inode>& parent,
                                              const std::string& name, Found* found) {
  if (name.size() > NAME_MAX) return Fail(ENAMETOOLONG);
  if (NeverVisible(name)) return Fail(ENOENT);
  auto reals = parent->Reals();
  STRATA_ASSIGN_OR_RETURN(*found, FindReal(*parent, *reals, name, 0));
  STRATA_ASSIGN_OR_RETURN(Entry entry, NodeFor(parent, reals, name, *found));
  auto node = table_.Get(entry.id);
  table_.Forget(entry.id, 1);  // the kernel holds its own count; we hold the shared_ptr
  if (!node) return Fail(ESTALE);
  return node;
}

Status UnionFs::CheckNewEntry(const Inode& parent, const std::string& name) {
  STRATA_RETURN_IF_ERROR(CheckNewName(name));
  auto present = FindReal(parent, *parent.Reals(), name, 0);
  if (present) return Fail(EEXIST);
  if (present.error().code != ENOENT) return Unexpected{present.error()};
  return Ok();
}

template <typename Build>
Result<UnionFs::Made> UnionFs::MakeEntry(InodeId parent_id, std::string_view name_view, mode_t mode,
                                         const Caller& caller, Build&& build) {
  const mode_t type = mode & S_IFMT;
  STRATA_ASSIGN_OR_RETURN(auto parent, ResolveDir(parent_id));
  const std::string name(name_view);
  std::unique_lock names(parent->dir->names_mu);
  STRATA_RETURN_IF_ERROR(CheckNewEntry(*parent, name));
  STRATA_ASSIGN_OR_RETURN(auto reals, EnsureUpperDir(parent));
  STRATA_ASSIGN_OR_RETURN(FdLease up, (*reals)[0].fd.Open());
  const int upfd = up->Get();
  const int work = upper_->work_fd();
  struct stat parent_st;
  if (::fstat(upfd, &parent_st) != 0) return FailErrno("stat parent");

  const std::string tmp = upper_->TempName();
  STRATA_ASSIGN_OR_RETURN(UniqueFd fd, build(work, tmp));
  auto fail = [&](Error e) -> Result<Made> {
    (void)upper_->Discard(tmp);
    return Unexpected{std::move(e)};
  };
  // Owner: the caller; the group is the directory's if it is setgid (and so is a new subdir).
  const uid_t uid = config_.ids.StoreUid(caller.uid);
  const gid_t gid =
      (parent_st.st_mode & S_ISGID) ? parent_st.st_gid : config_.ids.StoreGid(caller.gid);
  if (Overrides()) {
    // Owner and mode live in the override; the real object stays usable by the daemon.
    const mode_t sgid = S_ISDIR(type) && (parent_st.st_mode & S_ISGID) ? S_ISGID : 0;
    const Status kept =
        WriteOverrideStat(ProcFdPath(work, tmp), Follow::kNo, config_.override_xattr,
                          OverrideStat{uid, gid, mode | sgid});
    if (!kept && !S_ISLNK(type)) return fail(kept.error());
  } else if (::fchownat(work, tmp.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0 &&
             !(copy_options().unprivileged && errno == EPERM)) {
    return fail(Error{errno, "chown new entry"});
  }
  if (!S_ISLNK(type)) {
    // Exactly the bits asked for (our umask does not apply; the kernel applied the caller's),
    // set after chown, which clears setuid/setgid.
    mode_t bits = mode & 07777;
    if (S_ISDIR(type) && (parent_st.st_mode & S_ISGID)) bits |= S_ISGID;
    if (Overrides()) bits |= S_ISDIR(type) ? 0700 : 0600;  // the override holds the real bits
    if (::fchmodat(work, tmp.c_str(), bits, 0) != 0) return fail(Error{errno, "chmod new entry"});
  }
  // Over a whiteout, a new directory must not merge with what the whiteout hid.
  if (S_ISDIR(type)) {
    struct stat wst;
    bool covered = ::fstatat(upfd, name.c_str(), &wst, AT_SYMLINK_NOFOLLOW) == 0;
    if (!covered) {
      const std::string wh = std::string(kWhiteoutPrefix) + name;
      covered = ::fstatat(upfd, wh.c_str(), &wst, AT_SYMLINK_NOFOLLOW) == 0;
    }
    if (covered) {
      if (Status s = SetMarker(ProcFdPath(work, tmp), kOpaqueSuffix, "y"); !s)
        return fail(s.error());
    }
  }
  if (Status s = Publish(tmp, upfd, name, /*copy_up_into=*/nullptr); !s) return fail(s.error());
  Invalidate(*parent);

  Found found;
  found.index = 0;
  if (::fstatat(upfd, name.c_str(), &found.st, AT_SYMLINK_NOFOLLOW) != 0) {
    return FailErrno("stat new entry");
  }
  STRATA_ASSIGN_OR_RETURN(Entry entry, NodeFor(parent, reals, name, found));
  return Made{entry, std::move(fd)};
}

Result<Entry> UnionFs::MakeNode(InodeId parent, std::string_view name, mode_t mode, dev_t rdev,
                                const Caller& caller) {
  const mode_t type = mode & S_IFMT;
  if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR &&
      type != S_IFBLK && type != 0) {
    return Fail(EINVAL);
  }
  const mode_t real_type = type == 0 ? S_IFREG : type;
  STRATA_ASSIGN_OR_RETURN(
      Made made, MakeEntry(parent, name, real_type | (mode & 07777), caller,
                           [&](int work, const std::string& tmp) -> Result<UniqueFd> {
                             if (::mknodat(work, tmp.c_str(), real_type | 0600, rdev) != 0) {
                               return FailErrno("mknod");
                             }
                             return UniqueFd();
                           }));
  return made.entry;
}

Result<Entry> UnionFs::MakeDir(InodeId parent, std::string_view name, mode_t mode,
                               const Caller& caller) {
  STRATA_ASSIGN_OR_RETURN(Made made,
                          MakeEntry(parent, name, S_IFDIR | (mode & 07777), caller,
                                    [&](int work, const std::string& tmp) -> Result<UniqueFd> {
                                      if (::mkdirat(work, tmp.c_str(), 0700) != 0) {
                                        return FailErrno("mkdir");
                                      }
                                      return UniqueFd();
                                    }));
  return made.entry;
}

Result<Entry> UnionFs::MakeSymlink(InodeId parent, std::string_view name, const std::string& target,
                                   const Caller& caller) {
  STRATA_ASSIGN_OR_RETURN(Made made,
                          MakeEntry(parent, name, S_IFLNK | 0777, caller,
                                    [&](int work, const std::string& tmp) -> Result<UniqueFd> {
                                      if (::symlinkat(target.c_str(), work, tmp.c_str()) != 0) {
                                        return FailErrno("symlink");
                                      }
                                      return UniqueFd();
                                    }));
  return made.entry;
}

Result<Created> UnionFs::Create(InodeId parent, std::string_view name, mode_t mode, int flags,
                                const Caller& caller) {
  const int open_flags = flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY);
  STRATA_ASSIGN_OR_RETURN(
      Made made, MakeEntry(parent, name, S_IFREG | (mode & 07777), caller,
                           [&](int work, const std::string& tmp) -> Result<UniqueFd> {
                             UniqueFd fd(::openat(
                                 work, tmp.c_str(),
                                 open_flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
                             if (!fd) return FailErrno("create");
                             return fd;
                           }));
  auto node = table_.Get(made.entry.id);  // NodeFor's count is held: it cannot be forgotten
  const uint32_t gen = node->data_gen.load(std::memory_order_acquire);
  return Created{made.entry,
                 std::make_unique<FileHandle>(std::move(node), open_flags, std::move(made.fd), gen,
                                              /*settled=*/true)};
}

Result<Entry> UnionFs::Link(InodeId id, InodeId new_parent_id, std::string_view name_view) {
  STRATA_ASSIGN_OR_RETURN(auto parent, ResolveDir(new_parent_id));
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  if (node->IsDir()) return Fail(EPERM);
  const std::string name(name_view);
  std::unique_lock names(parent->dir->names_mu);
  STRATA_RETURN_IF_ERROR(CheckNewEntry(*parent, name));
  STRATA_ASSIGN_OR_RETURN(auto reals, EnsureUpperDir(parent));
  STRATA_ASSIGN_OR_RETURN(FdLease up, (*reals)[0].fd.Open());
  const int upfd = up->Get();
  const int work = upper_->work_fd();
  const std::string tmp = upper_->TempName();
  {
    std::lock_guard lock(node->op_mu);
    STRATA_ASSIGN_OR_RETURN(auto place, EnsureUpperFile(node));
    if (LinkInto(*place, work, tmp) != 0) return FailErrno("link");
    if (Status s = MarkImpure(*parent, upfd); !s) {
      ::unlinkat(work, tmp.c_str(), 0);
      return Unexpected{s.error()};
    }
    if (Status s = Publish(tmp, upfd, name, /*copy_up_into=*/nullptr); !s) {
      ::unlinkat(work, tmp.c_str(), 0);
      return Unexpected{s.error()};
    }
  }
  // The kernel may skip the reply's attributes (kernel_cache.h): it rereads them, and from
  // now on always asks (KernelMayCacheAttr).
  node->several_links.store(true, std::memory_order_relaxed);
  NotifyAttr(*node);
  STRATA_ASSIGN_OR_RETURN(struct stat st, Stat(*node));
  Present(*node, &st);
  if (!table_.Ref(node->id)) return Fail(ESTALE);
  return Entry{node->id, st};
}

Result<UnionFs::Removal> UnionFs::PrepareRemoval(const std::shared_ptr<Inode>& node,
                                                 const std::shared_ptr<Inode>& parent,
                                                 const RealDirs& reals, const std::string& name) {
  Removal r;
  STRATA_ASSIGN_OR_RETURN(r.now, FindReal(*parent, reals, name, 0));
  if (r.now.index != 0 && r.now.st.st_nlink > 1) {
    // A lower hard link: index it first (as kernel overlayfs does), so the names left show
    // one link fewer, now and after a remount.
    if (auto placed = EnsureUpperName(node, parent, name); !placed) {
      return Unexpected{placed.error()};
    }
    STRATA_ASSIGN_OR_RETURN(r.now, FindReal(*parent, reals, name, 0));
  }
  r.place = node->Place();
  r.was_placement =
      r.place->parent == parent && r.place->name == name && !r.place->anchor && !r.place->removed;
  if (r.was_placement && r.now.index == 0) {
    // The node's upper object loses the name it is reached by. Anchored, it stays usable
    // (other hard links, open files) and keeps its inode number from being reused by a new
    // object while the node exists, so no lookup can ever alias the two.
    // Without one (EMFILE) the removal is refused: nothing has changed yet.
    STRATA_ASSIGN_OR_RETURN(FdLease up, reals[0].fd.Open());
    r.anchor = std::make_shared<UniqueFd>(
        ::openat(up->Get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!*r.anchor) return FailErrno("keep '" + name + "' open while it is in use");
  }
  return r;
}

void UnionFs::FinishRemoval(Inode& node, const Removal& r) {
  if (!r.was_placement) return;
  auto moved = std::make_shared<Placement>(*r.place);
  moved->anchor = r.anchor;
  moved->removed = true;
  node.SetPlace(std::move(moved));
}

Status UnionFs::Unlink(InodeId parent_id, std::string_view name_view) {
  STRATA_ASSIGN_OR_RETURN(auto parent, ResolveDir(parent_id));
  const std::string name(name_view);
  std::unique_lock names(parent->dir->names_mu);
  Found found;
  STRATA_ASSIGN_OR_RETURN(auto node, Child(parent, name, &found));
  if (node->IsDir()) return Fail(EISDIR);
  STRATA_ASSIGN_OR_RETURN(auto reals, EnsureUpperDir(parent));
  STRATA_ASSIGN_OR_RETURN(FdLease up, (*reals)[0].fd.Open());
  const int upfd = up->Get();
  std::lock_guard lock(node->op_mu);
  STRATA_ASSIGN_OR_RETURN(Removal removal, PrepareRemoval(node, parent, *reals, name));
  STRATA_ASSIGN_OR_RETURN(bool below, ExistsBelow(*parent, *reals, name));
  std::optional<NameChange> changing;  // the node's placement name goes away
  if (removal.was_placement) changing.emplace(*node);
  if (removal.now.index == 0) {
    STRATA_RETURN_IF_ERROR(RemoveUpper(upfd, name, below));
  } else {
    STRATA_RETURN_IF_ERROR(WriteWhiteout(upfd, name));
  }
  FinishRemoval(*node, removal);
  return Ok();
}

Status UnionFs::Rmdir(InodeId parent_id, std::string_view name_view) {
  STRATA_ASSIGN_OR_RETURN(auto parent, ResolveDir(parent_id));
  const std::string name(name_view);
  std::unique_lock names(parent->dir->names_mu);
  Found found;
  STRATA_ASSIGN_OR_RETURN(auto node, Child(parent, name, &found));
  if (!node->IsDir()) return Fail(ENOTDIR);
  if (node->id == kRootId) return Fail(EBUSY);
  STRATA_ASSIGN_OR_RETURN(auto reals, EnsureUpperDir(parent));
  STRATA_ASSIGN_OR_RETURN(FdLease up, (*reals)[0].fd.Open());
  const int upfd = up->Get();
  std::lock_guard lock(node->op_mu);
  STRATA_ASSIGN_OR_RETURN(auto entries, ListDir(*node));
  if (entries.size() > 2) return Fail(ENOTEMPTY);
  STRATA_ASSIGN_OR_RETURN(bool below, ExistsBelow(*parent, *reals, name));
  if (const DirReal& top = (*node->Reals())[0]; top.layer == 0) {
    // Losing its last name, it can no longer be reopened by it: its fd stays open.
    STRATA_RETURN_IF_ERROR(top.fd.Pin());
    STRATA_RETURN_IF_ERROR(RemoveUpper(upfd, name, below));
  } else {
    STRATA_RETURN_IF_ERROR(WriteWhiteout(upfd, name));
  }
  Invalidate(*parent);
  table_.Unkey(*node);
  return Ok();
}

Status UnionFs::MarkMoved(const std::shared_ptr<Inode>& dir, int upfd, bool covered) {
  const std::string path = ProcFdPath(upfd);
  if (dir->Reals()->size() > 1) return SetMarker(path, kRedirectSuffix, dir->LowerPath());
  if (covered) return SetMarker(path, kOpaqueSuffix, "y");
  return Ok();
}

Status UnionFs::Rename(InodeId parent_id, std::string_view name_view, InodeId new_parent_id,
                       std::string_view new_name_view, unsigned flags) {
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) return Fail(EINVAL);
  if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE)) return Fail(EINVAL);
  const bool exchange = flags & RENAME_EXCHANGE;
  STRATA_ASSIGN_OR_RETURN(auto parent, ResolveDir(parent_id));
  STRATA_ASSIGN_OR_RETURN(auto new_parent, ResolveDir(new_parent_id));
  STRATA_RETURN_IF_ERROR(CheckNewName(new_name_view));
  const std::string name(name_view), new_name(new_name_view);
  std::unique_lock<std::shared_mutex> names_a, names_b;
  {
    Inode* first = parent.get();
    Inode* second = new_parent.get();
    if (second->id.value < first->id.value) std::swap(first, second);
    names_a = std::unique_lock(first->dir->names_mu);
    if (second != first) names_b = std::unique_lock(second->dir->names_mu);
  }

  Found found, new_found;
  STRATA_ASSIGN_OR_RETURN(auto src, Child(parent, name, &found));
  std::shared_ptr<Inode> dst;
  if (auto d = Child(new_parent, new_name, &new_found)) {
    dst = *d;
  } else if (d.error().code != ENOENT) {
    return Unexpected{d.error()};
  }
  if (dst && (flags & RENAME_NOREPLACE)) return Fail(EEXIST);
  if (!dst && exchange) return Fail(ENOENT);
  if (dst == src) return Ok();  // two names of one file: rename(2) does nothing
  if (dst && !exchange) {
    if (src->IsDir() && !dst->IsDir()) return Fail(ENOTDIR);
    if (!src->IsDir() && dst->IsDir()) return Fail(EISDIR);
    if (dst->IsDir()) {
      STRATA_ASSIGN_OR_RETURN(auto entries, ListDir(*dst));
      if (entries.size() > 2) return Fail(ENOTEMPTY);
    }
  }

  // Everything involved moves to the upper layer first (each step is complete on its own).
  STRATA_RETURN_IF_ERROR(EnsureUpper(parent));
  STRATA_RETURN_IF_ERROR(EnsureUpper(new_parent));
  if (src->IsDir()) STRATA_RETURN_IF_ERROR(EnsureUpper(src));
  if (exchange && dst->IsDir()) STRATA_RETURN_IF_ERROR(EnsureUpper(dst));

  std::unique_lock<SmallMutex> lock_a, lock_b;
  {
    Inode* first = src.get();
    Inode* second = dst.get();
    if (second && second->id.value < first->id.value) std::swap(first, second);
    lock_a = std::unique_lock(first->op_mu);
    if (second) lock_b = std::unique_lock(second->op_mu);
  }
  if (!src->IsDir()) {
    auto placed = EnsureUpperName(src, parent, name);
    if (!placed) return Unexpected{placed.error()};
  }
  if (exchange && !dst->IsDir()) {
    auto placed = EnsureUpperName(dst, new_parent, new_name);
    if (!placed) return Unexpected{placed.error()};
  }
  // Every upper fd the change uses, open before the names change (the moved directories' own
  // are reopened by their names, which are changing: inode.h NameChange).
  auto reals = parent->Reals();
  auto new_reals = new_parent->Reals();
  STRATA_ASSIGN_OR_RETURN(FdLease up, (*reals)[0].fd.Open());
  STRATA_ASSIGN_OR_RETURN(FdLease new_up, (*new_reals)[0].fd.Open());
  const int upfd = up->Get();
  const int new_upfd = new_up->Get();
  FdLease src_up, dst_up;
  if (src->IsDir()) {
    STRATA_ASSIGN_OR_RETURN(src_up, (*src->Reals())[0].fd.Open());
  }
  if (exchange && dst->IsDir()) {
    STRATA_ASSIGN_OR_RETURN(dst_up, (*dst->Reals())[0].fd.Open());
  }
  // A replaced non-directory goes as by unlink.
  std::optional<Removal> replaced;
  if (dst && !exchange && !dst->IsDir()) {
    STRATA_ASSIGN_OR_RETURN(replaced, PrepareRemoval(dst, new_parent, *new_reals, new_name));
    new_found = replaced->now;
  }
  STRATA_ASSIGN_OR_RETURN(bool src_below, ExistsBelow(*parent, *reals, name));
  STRATA_ASSIGN_OR_RETURN(bool dst_below, ExistsBelow(*new_parent, *new_reals, new_name));

  // Moved objects may carry a kept st_ino into their new directories.
  STRATA_RETURN_IF_ERROR(MarkImpure(*new_parent, new_upfd));
  // A directory losing its last name can no longer be reopened by it: its fd stays open.
  if (dst && !exchange && dst->IsDir()) {
    if (const DirReal& top = (*dst->Reals())[0]; top.layer == 0)
      STRATA_RETURN_IF_ERROR(top.fd.Pin());
  }
  // From here the names the nodes are placed at change (inode.h).
  std::optional<NameChange> src_moving, dst_moving;
  src_moving.emplace(*src);
  if (dst) dst_moving.emplace(*dst);
  if (exchange) {
    STRATA_RETURN_IF_ERROR(MarkImpure(*parent, upfd));
    if (src->IsDir()) STRATA_RETURN_IF_ERROR(MarkMoved(src, src_up->Get(), dst_below));
    if (dst->IsDir()) STRATA_RETURN_IF_ERROR(MarkMoved(dst, dst_up->Get(), src_below));
    if (::renameat2(upfd, name.c_str(), new_upfd, new_name.c_str(), RENAME_EXCHANGE) != 0) {
      return FailErrno("rename");
    }
    src->SetPlace(UpperPlacement(new_parent, new_reals, new_name));
    dst->SetPlace(UpperPlacement(parent, reals, name));
  } else {
    struct stat up_st;
    const bool new_in_upper =
        ::fstatat(new_upfd, new_name.c_str(), &up_st, AT_SYMLINK_NOFOLLOW) == 0;
    const bool new_is_whiteout = new_in_upper && (!dst || new_found.index != 0);
    if (src->IsDir()) {
      STRATA_RETURN_IF_ERROR(MarkMoved(src, src_up->Get(), dst_below || new_is_whiteout));
    }
    // A directory in the upper layer being replaced holds only whiteouts: move it out first.
    std::string old_dir;
    if (dst && dst->IsDir() && new_in_upper && !new_is_whiteout) {
      old_dir = upper_->TempName();
      if (::renameat(new_upfd, new_name.c_str(), upper_->work_fd(), old_dir.c_str()) != 0) {
        return FailErrno("rename");
      }
    }
    if (src->IsDir() && new_is_whiteout) {
      // A directory cannot replace the whiteout: swap them, so the whiteout lands at the
      // source, where one is needed if something is below.
      if (::renameat2(upfd, name.c_str(), new_upfd, new_name.c_str(), RENAME_EXCHANGE) != 0) {
        return FailErrno("rename");
      }
      if (!src_below && ::unlinkat(upfd, name.c_str(), 0) != 0) return FailErrno("rename");
      if (src_below && !upper_->device_whiteouts()) {
        // the swapped-in object is a foreign whiteout format; write ours too
        STRATA_RETURN_IF_ERROR(WriteWhiteout(upfd, name));
      }
    } else if (src_below && upper_->device_whiteouts()) {
      if (::renameat2(upfd, name.c_str(), new_upfd, new_name.c_str(), RENAME_WHITEOUT) != 0) {
        return FailErrno("rename");
      }
    } else {
      if (src_below) STRATA_RETURN_IF_ERROR(WriteWhiteout(upfd, name));  // ".wh.NAME" first
      if (::renameat(upfd, name.c_str(), new_upfd, new_name.c_str()) != 0) {
        return FailErrno("rename");
      }
    }
    if (!old_dir.empty()) (void)upper_->Discard(old_dir);
    src->SetPlace(UpperPlacement(new_parent, new_reals, new_name));
    if (replaced) {
      FinishRemoval(*dst, *replaced);
    } else if (dst) {
      table_.Unkey(*dst);  // a directory
    }
  }
  Invalidate(*parent);
  Invalidate(*new_parent);
  return Ok();
}

Result<struct stat> UnionFs::SetAttr(InodeId id, const AttrChange& change) {
  STRATA_RETURN_IF_ERROR(CheckWritable());
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  // The real object: a directory's upper directory or an anchored file itself (followed as a
  // /proc magic link), else parent fd + name (never followed).
  RealAt real;
  std::unique_lock<SmallMutex> lock;
  std::shared_ptr<const Placement> place;  // holds real.path
  if (node->IsDir()) {
    STRATA_ASSIGN_OR_RETURN(auto reals, EnsureUpperDir(node));
    STRATA_ASSIGN_OR_RETURN(real, (*reals)[0].At());
  } else {
    lock = std::unique_lock(node->op_mu);
    STRATA_ASSIGN_OR_RETURN(place, EnsureUpperFile(node, change.size ? Need::kData : Need::kMeta));
    STRATA_ASSIGN_OR_RETURN(real, place->At());
  }
  if (Overrides() && (change.uid || change.gid || change.mode)) {
    // Owner and mode are kept in the override, not applied for real.
    struct stat real_st;
    if (::fstatat(real.dirfd, real.path, &real_st, real.flags) != 0) return FailErrno("stat");
    const Follow follow = real.Self() ? Follow::kYes : Follow::kNo;
    OverrideStat o =
        ReadOverrideStat(real.Proc(), follow, config_.override_xattr).value_or(OverrideOf(real_st));
    if (change.uid) o.uid = config_.ids.StoreUid(*change.uid);
    if (change.gid) o.gid = config_.ids.StoreGid(*change.gid);
    if (change.mode) o.mode = (o.mode & S_IFMT) | (*change.mode & 07777);
    STRATA_RETURN_IF_ERROR(WriteOverrideStat(real.Proc(), follow, config_.override_xattr, o));
  } else if (change.uid || change.gid) {
    const uid_t uid = change.uid ? config_.ids.StoreUid(*change.uid) : static_cast<uid_t>(-1);
    const gid_t gid = change.gid ? config_.ids.StoreGid(*change.gid) : static_cast<gid_t>(-1);
    if (::fchownat(real.dirfd, real.path, uid, gid, real.flags) != 0) return FailErrno("chown");
  }
  if (change.mode && !Overrides()) {
    const int rc = real.Self() ? ::chmod(real.Proc().c_str(), *change.mode & 07777)
                               : ::fchmodat(real.dirfd, real.path, *change.mode & 07777, 0);
    if (rc != 0) return FailErrno("chmod");
  }
  if (change.size) {
    if (change.fd >= 0) {
      if (::ftruncate(change.fd, *change.size) != 0) return FailErrno("truncate");
    } else if (::truncate(real.Proc().c_str(), *change.size) != 0) {
      // truncate(2), not open+ftruncate(2): the latter sets mtime even when the size stays.
      return FailErrno("truncate");
    }
  }
  if (change.atime || change.mtime) {
    struct timespec times[2];
    times[0] = change.atime ? *change.atime : timespec{0, UTIME_OMIT};
    times[1] = change.mtime ? *change.mtime : timespec{0, UTIME_OMIT};
    const int rc = real.Self() ? ::utimensat(AT_FDCWD, real.Proc().c_str(), times, 0)
                               : ::utimensat(real.dirfd, real.path, times, AT_SYMLINK_NOFOLLOW);
    if (rc != 0) return FailErrno("utimens");
  }
  STRATA_ASSIGN_OR_RETURN(struct stat st, Stat(*node));
  Present(*node, &st);
  return st;
}

Status UnionFs::SetXattr(InodeId id, const std::string& name, const std::string& value, int flags) {
  STRATA_RETURN_IF_ERROR(CheckWritable());
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  if (!config_.xattrs) return Fail(ENOTSUP);
  if (Hidden(name)) return Fail(EPERM);
  STRATA_ASSIGN_OR_RETURN(auto lock, LockUpper(node, Need::kMeta));
  STRATA_ASSIGN_OR_RETURN(const RealRef ref, RefOf(*node));
  const char* path = ref.path.c_str();
  const int rc = ref.follow == Follow::kYes
                     ? ::setxattr(path, name.c_str(), value.data(), value.size(), flags)
                     : ::lsetxattr(path, name.c_str(), value.data(), value.size(), flags);
  if (rc != 0) return FailErrno("setxattr");
  return Ok();
}

Status UnionFs::RemoveXattr(InodeId id, const std::string& name) {
  STRATA_RETURN_IF_ERROR(CheckWritable());
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  if (!config_.xattrs) return Fail(ENOTSUP);
  if (Hidden(name)) return Fail(EPERM);
  // Removing what is not there changes nothing: no copy-up.
  if (auto value = GetXattr(id, name); !value) return Unexpected{value.error()};
  STRATA_ASSIGN_OR_RETURN(auto lock, LockUpper(node, Need::kMeta));
  STRATA_ASSIGN_OR_RETURN(const RealRef ref, RefOf(*node));
  const int rc = ref.follow == Follow::kYes ? ::removexattr(ref.path.c_str(), name.c_str())
                                            : ::lremovexattr(ref.path.c_str(), name.c_str());
  if (rc != 0) return FailErrno("removexattr");
  return Ok();
}

Status UnionFs::SyncDir(InodeId id, bool datasync) {
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  if (!node->IsDir() || !upper_) return Ok();
  auto reals = node->Reals();
  if ((*reals)[0].layer != 0) return Ok();  // nothing of it was written
  STRATA_ASSIGN_OR_RETURN(FdLease up, (*reals)[0].fd.Open());
  UniqueFd fd(::openat(up->Get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return FailErrno("open directory");
  if ((datasync ? ::fdatasync(fd.Get()) : ::fsync(fd.Get())) != 0) return FailErrno("fsync");
  return Ok();
}

Status UnionFs::Fsync(FileHandle& handle, bool datasync) {
  STRATA_ASSIGN_OR_RETURN(int fd, HandleFd(handle));
  if ((datasync ? ::fdatasync(fd) : ::fsync(fd)) != 0) return FailErrno("fsync");
  if (datasync || !upper_) return Ok();
  const Inode& node = *handle.node_;
  return StablePlaced(node, [&]() -> Status {
    const auto place = node.Place();
    if (!place->data || place->layer != 0) return Ok();  // the data's object is the file itself
    STRATA_ASSIGN_OR_RETURN(UniqueFd meta, OpenReal(*place, O_RDONLY | O_NONBLOCK));
    if (::fsync(meta.Get()) != 0) return FailErrno("fsync");
    return Ok();
  });
}

Result<UniqueFd> UnionFs::OpenForIoctl(const Inode& node) {
  // Only regular files and directories: an ioctl on a device node would reach its driver.
  if (!S_ISREG(node.type) && !S_ISDIR(node.type)) return Fail(ENOTTY);
  STRATA_ASSIGN_OR_RETURN(const RealRef ref, RefOf(node));
  UniqueFd fd(::open(ref.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC |
                                           (ref.follow == Follow::kNo ? O_NOFOLLOW : 0)));
  if (!fd) return FailErrno("open for ioctl");
  return fd;
}

Status UnionFs::FileAttrIoctl(InodeId id, unsigned cmd, void* data) {
  const bool set = cmd == FS_IOC_SETFLAGS || cmd == FS_IOC_FSSETXATTR;
  if (!set && cmd != FS_IOC_GETFLAGS && cmd != FS_IOC_FSGETXATTR) return Fail(ENOTTY);
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  if (!S_ISREG(node->type) && !S_ISDIR(node->type)) return Fail(ENOTTY);
  std::unique_lock<SmallMutex> lock;
  if (set) {
    STRATA_RETURN_IF_ERROR(CheckWritable());
    STRATA_ASSIGN_OR_RETURN(lock, LockUpper(node));
  }
  // The descriptor pins the object: the ioctl itself needs no further protection.
  STRATA_ASSIGN_OR_RETURN(UniqueFd fd, set ? OpenForIoctl(*node) : StablePlaced(*node, [&] {
                            return OpenForIoctl(*node);
                          }));
  if (::ioctl(fd.Get(), cmd, data) != 0) return FailErrno("file attribute ioctl");
  return Ok();
}

}  // namespace strata::core
