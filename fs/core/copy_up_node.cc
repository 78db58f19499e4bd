// UnionFs: moving nodes into the upper layer (copy-up) and the on-disk steps every write
// shares: publishing a finished object, removing one, writing whiteouts and markers.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "fs/core/layer_format.h"
#include "fs/core/union_fs.h"

namespace strata::core {
namespace {

// A copy of REALS with UPPER in front (the old snapshot stays valid for the operations still
// using it; the copies share their fds).
std::shared_ptr<const RealDirs> WithUpper(const RealDirs& reals, DirFd upper) {
  auto out = std::make_shared<RealDirs>();
  out->reserve(reals.size() + 1);
  out->push_back(DirReal{0, std::move(upper), false, {}});
  out->insert(out->end(), reals.begin(), reals.end());
  return out;
}

bool IsUpperWhiteout(int dirfd, const std::string& name, const struct stat& st) {
  return IsDeviceWhiteout(st) || IsXattrWhiteout(dirfd, name, st);
}

}  // namespace

Status UnionFs::KeepOwnerInOverride(const std::string& source_path, Follow follow,
                                    const struct stat& st, const std::string& tmp) {
  if (!Overrides() || S_ISLNK(st.st_mode)) return Ok();
  if (ReadOverrideStat(source_path, follow, config_.override_xattr)) return Ok();  // copied
  return WriteOverrideStat(ProcFdPath(upper_->work_fd(), tmp), Follow::kNo, config_.override_xattr,
                           OverrideOf(st));
}

CopyOptions UnionFs::copy_options() const { return CopyOptions{upper_->fsync(), ::geteuid() != 0}; }

Status UnionFs::SetMarker(const std::string& path, std::string_view suffix,
                          const std::string& value) {
  const std::string name = upper_->Xattr(suffix);
  // "/proc/self/fd/N" is a magic link to follow; "/proc/self/fd/N/name" must not be followed.
  const bool magic = path.find('/', sizeof("/proc/self/fd/") - 1) == std::string::npos;
  const int rc = magic ? ::setxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0)
                       : ::lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0);
  if (rc != 0) {
    return FailErrno("set " + name);
  }
  return Ok();
}

Result<std::shared_ptr<const RealDirs>> UnionFs::EnsureUpperDir(const std::shared_ptr<Inode>& dir) {
  for (;;) {
    auto reals = dir->Reals();
    if ((*reals)[0].layer == 0) return reals;  // the root always is
    auto place = dir->Place();
    STRATA_ASSIGN_OR_RETURN(auto parent_reals, EnsureUpperDir(place->parent));
    std::lock_guard lock(dir->op_mu);
    reals = dir->Reals();
    if ((*reals)[0].layer == 0) return reals;
    if (dir->Place() != place) continue;  // moved meanwhile: its new parent first

    STRATA_ASSIGN_OR_RETURN(FdLease lower, (*reals)[0].fd.Open());
    const int lower_fd = lower->Get();
    struct stat st;
    if (::fstatat(lower_fd, "", &st, AT_EMPTY_PATH) != 0) return FailErrno("copy-up stat");
    const std::string tmp = upper_->TempName();
    STRATA_RETURN_IF_ERROR(CopyObject(lower_fd, ".", st, upper_->work_fd(), tmp, copy_options()));
    if (Status kept = KeepOwnerInOverride(ProcFdPath(lower_fd), Follow::kYes, st, tmp); !kept) {
      (void)upper_->Discard(tmp);
      return Unexpected{kept.error()};
    }
    STRATA_ASSIGN_OR_RETURN(FdLease up, (*parent_reals)[0].fd.Open());
    const int upfd = up->Get();
    Status done =
        SetMarker(ProcFdPath(upper_->work_fd(), tmp), kInoSuffix, std::to_string(dir->st_ino));
    if (done) done = Publish(tmp, upfd, place->name, place->parent.get());
    if (!done) {
      (void)upper_->Discard(tmp);
      return Unexpected{done.error()};
    }
    UniqueFd fd(::openat(upfd, place->name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct stat up_st;
    if (!fd || ::fstat(fd.Get(), &up_st) != 0) return FailErrno("open copied-up directory");
    auto fresh = WithUpper(*reals, UpperDirFd(dir, std::move(fd), up_st));
    dir->SetReals(fresh);
    return fresh;
  }
}

void UnionFs::Moved(Inode& node, std::shared_ptr<const Placement> place) {
  node.SetPlace(std::move(place));
  node.data_gen.fetch_add(1, std::memory_order_acq_rel);
  NotifyAttr(node);
}

Result<std::shared_ptr<const Placement>> UnionFs::CopyUpRemoved(const std::shared_ptr<Inode>& node,
                                                                const Placement& place) {
  // As a file opened with O_TMPFILE: built in the workdir, anchored, then its name dropped. Its
  // lower original stays as it is (only hard links would share it, and those are indexed
  // before a name of theirs is removed).
  STRATA_ASSIGN_OR_RETURN(FdLease dir, place.Dir());
  const int dirfd = dir->Get();
  struct stat st;
  if (::fstatat(dirfd, place.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return FailErrno("copy-up stat");
  }
  const int work = upper_->work_fd();
  const std::string tmp = upper_->TempName();
  UniqueFd data;
  if (place.data) {
    STRATA_ASSIGN_OR_RETURN(data, OpenReal(*place.data, O_RDONLY));
  }
  STRATA_RETURN_IF_ERROR(CopyObject(dirfd, place.name, st, work, tmp, copy_options(), data.Get()));
  if (Status kept = KeepOwnerInOverride(ProcFdPath(dirfd, place.name), Follow::kNo, st, tmp);
      !kept) {
    (void)upper_->Discard(tmp);
    return Unexpected{kept.error()};
  }
  auto anchor =
      std::make_shared<UniqueFd>(::openat(work, tmp.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  const int err = errno;
  (void)upper_->Discard(tmp);
  if (!*anchor) return Fail(err, "anchor copy-up");
  auto fresh = std::make_shared<Placement>(place);
  fresh->anchor = std::move(anchor);
  fresh->layer = 0;
  fresh->data = nullptr;
  Moved(*node, fresh);
  return std::shared_ptr<const Placement>(std::move(fresh));
}

Result<std::shared_ptr<const Placement>> UnionFs::CopyUpData(
    const std::shared_ptr<Inode>& node, const std::shared_ptr<const Placement>& place) {
  // In place, as kernel overlayfs does: the file keeps its inode, so its anchor and its upper
  // names stay valid.
  STRATA_ASSIGN_OR_RETURN(UniqueFd out, OpenReal(*place, O_WRONLY));
  STRATA_ASSIGN_OR_RETURN(UniqueFd in, OpenReal(*place->data, O_RDONLY));
  struct stat before, after;
  if (::fstat(out.Get(), &before) != 0) return FailErrno("copy-up stat");
  STRATA_RETURN_IF_ERROR(CopyFileData(in.Get(), out.Get(), before.st_size));
  // A clone takes the data's size; the file's own one is what users saw (they are equal
  // unless a layer was changed behind the mount).
  if (::fstat(out.Get(), &after) != 0) return FailErrno("copy-up stat");
  if (after.st_size != before.st_size && ::ftruncate(out.Get(), before.st_size) != 0) {
    return FailErrno("copy-up truncate");
  }
  if (upper_->fsync() && ::fsync(out.Get()) != 0) return FailErrno("copy-up fsync");
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  if (::futimens(out.Get(), times) != 0) return FailErrno("copy-up times");
  // The data is durable: only now may the file stand for itself.
  STRATA_RETURN_IF_ERROR(RemoveMetacopy(out.Get()));
  auto fresh = std::make_shared<Placement>(*place);
  fresh->data = nullptr;
  Moved(*node, fresh);
  return std::shared_ptr<const Placement>(std::move(fresh));
}

Result<std::shared_ptr<const Placement>> UnionFs::EnsureUpperFile(
    const std::shared_ptr<Inode>& node, Need need) {
  auto place = node->Place();
  if (place->layer == 0) {
    if (!place->data || need == Need::kMeta) return place;
    return CopyUpData(node, place);
  }
  if (place->removed) return CopyUpRemoved(node, *place);
  STRATA_ASSIGN_OR_RETURN(auto parent_reals, EnsureUpperDir(place->parent));
  STRATA_ASSIGN_OR_RETURN(FdLease dir, place->Dir());
  const int dirfd = dir->Get();
  struct stat st;
  if (::fstatat(dirfd, place->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return FailErrno("copy-up stat");
  }
  const int work = upper_->work_fd();
  const std::string tmp = upper_->TempName();
  const std::string work_path = ProcFdPath(work, tmp);
  auto fail = [&](const Error& e) -> Result<std::shared_ptr<const Placement>> {
    (void)upper_->Discard(tmp);
    return Unexpected{e};
  };
  // A hard-linked lower file is copied once: its other names link to the indexed copy.
  const bool linked = st.st_nlink > 1;
  // Metadata only: its data stays where it is (a lower metacopy file's: further down).
  const bool meta_only = need == Need::kMeta && config_.metacopy && S_ISREG(st.st_mode) && !linked;
  const bool metacopy = meta_only && st.st_size > 0;
  const std::string key = std::to_string(node->st_ino);
  bool from_index = false;
  if (linked) {
    if (::linkat(upper_->index_fd(), key.c_str(), work, tmp.c_str(), 0) == 0) {
      from_index = true;
    } else if (errno != ENOENT) {
      return FailErrno("copy-up link from index");
    }
  }
  if (from_index) {
    AdjustLowerLinks(work_path, -1);
  } else {
    CopyOptions options = copy_options();
    options.metadata_only = meta_only;
    UniqueFd data;
    if (place->data && !meta_only) {
      STRATA_ASSIGN_OR_RETURN(data, OpenReal(*place->data, O_RDONLY));
    }
    STRATA_RETURN_IF_ERROR(CopyObject(dirfd, place->name, st, work, tmp, options, data.Get()));
    if (Status kept = KeepOwnerInOverride(ProcFdPath(dirfd, place->name), Follow::kNo, st, tmp);
        !kept) {
      return fail(kept.error());
    }
    // Symlinks cannot carry user.* xattrs: without trusted.* their st_ino changes on copy-up.
    Status marked = SetMarker(work_path, kInoSuffix, key);
    if (!marked && !S_ISLNK(st.st_mode)) return fail(marked.error());
    if (metacopy) {
      if (Status s = SetMarker(work_path, kMetacopySuffix, ""); !s) return fail(s.error());
    }
    if (linked && !S_ISLNK(st.st_mode)) {
      if (Status s = SetMarker(work_path, kLowerLinksSuffix, std::to_string(st.st_nlink - 1)); !s) {
        return fail(s.error());
      }
      if (::linkat(work, tmp.c_str(), upper_->index_fd(), key.c_str(), 0) != 0) {
        return fail(Error{errno, "copy-up index link"});
      }
    }
  }
  auto up = (*parent_reals)[0].fd.Open();
  if (!up) return fail(up.error());
  if (Status done = Publish(tmp, (*up)->Get(), place->name, place->parent.get()); !done) {
    return fail(done.error());
  }
  auto fresh = UpperPlacement(place->parent, parent_reals, place->name);
  if (metacopy) {
    auto meta = std::make_shared<Placement>(*fresh);
    meta->data = place->data ? place->data : place;
    fresh = std::move(meta);
  }
  Moved(*node, fresh);
  return fresh;
}

Result<std::shared_ptr<const Placement>> UnionFs::EnsureUpperName(
    const std::shared_ptr<Inode>& node, const std::shared_ptr<Inode>& parent,
    const std::string& name) {
  STRATA_ASSIGN_OR_RETURN(auto place, EnsureUpperFile(node));
  if (place->parent == parent && place->name == name && !place->anchor) return place;
  STRATA_ASSIGN_OR_RETURN(auto reals, EnsureUpperDir(parent));
  STRATA_ASSIGN_OR_RETURN(FdLease up, (*reals)[0].fd.Open());
  const int upfd = up->Get();
  STRATA_ASSIGN_OR_RETURN(Found found, FindReal(*parent, *reals, name, 0));
  if (found.index != 0) {
    // NAME is still a lower name of the (copied-up) file: link it to the copy.
    const int work = upper_->work_fd();
    const std::string tmp = upper_->TempName();
    if (LinkInto(*place, work, tmp) != 0) return FailErrno("link up");
    AdjustLowerLinks(ProcFdPath(work, tmp), -1);
    if (Status s = Publish(tmp, upfd, name, parent.get()); !s) {
      ::unlinkat(work, tmp.c_str(), 0);
      return Unexpected{s.error()};
    }
  }
  auto fresh = UpperPlacement(parent, reals, name);
  node->SetPlace(fresh);
  return fresh;
}

void UnionFs::AdjustLowerLinks(const std::string& path, int delta) {
  const std::string attr = upper_->Xattr(kLowerLinksSuffix);
  char buf[24];
  const ssize_t n = ::lgetxattr(path.c_str(), attr.c_str(), buf, sizeof(buf) - 1);
  if (n <= 0) return;  // not an indexed copy
  int64_t value = std::strtoll(std::string(buf, static_cast<size_t>(n)).c_str(), nullptr, 10);
  value = std::max<int64_t>(0, value + delta);
  const std::string text = std::to_string(value);
  ::lsetxattr(path.c_str(), attr.c_str(), text.data(), text.size(), 0);  // best effort
}

Result<std::unique_lock<SmallMutex>> UnionFs::LockUpper(const std::shared_ptr<Inode>& node,
                                                        Need need) {
  if (node->IsDir()) {
    auto reals = EnsureUpperDir(node);
    if (!reals) return Unexpected{reals.error()};
    return std::unique_lock<SmallMutex>();
  }
  std::unique_lock lock(node->op_mu);
  auto place = EnsureUpperFile(node, need);
  if (!place) return Unexpected{place.error()};
  return lock;
}

Status UnionFs::EnsureUpper(const std::shared_ptr<Inode>& node) {
  auto locked = LockUpper(node);
  if (!locked) return Unexpected{locked.error()};
  return Ok();
}

Status UnionFs::MarkImpure(Inode& dir, int upfd) {
  if (dir.dir->upper_impure.load(std::memory_order_acquire)) return Ok();
  STRATA_RETURN_IF_ERROR(SetMarker(ProcFdPath(upfd), kImpureSuffix, "y"));
  dir.dir->upper_impure.store(true, std::memory_order_release);
  return Ok();
}

bool UnionFs::IsImpure(int upfd) const {
  const std::string name = upper_->Xattr(kImpureSuffix);
  return ::getxattr(ProcFdPath(upfd).c_str(), name.c_str(), nullptr, 0) >= 0;
}

Status UnionFs::Publish(const std::string& tmp, int upfd, const std::string& name,
                        Inode* copy_up_into) {
  const int work = upper_->work_fd();
  const bool copy_up = copy_up_into != nullptr;
  struct stat parent_st;
  if (copy_up) {
    if (::fstat(upfd, &parent_st) != 0) return FailErrno("stat upper parent");
    // Before the object with a kept st_ino lands.
    STRATA_RETURN_IF_ERROR(MarkImpure(*copy_up_into, upfd));
  }
  if (::renameat2(work, tmp.c_str(), upfd, name.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno != EEXIST) return FailErrno("publish");
    // Only a whiteout may stand where a new object goes: swap them, drop the whiteout.
    struct stat st;
    if (::fstatat(upfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return FailErrno("publish");
    if (!IsUpperWhiteout(upfd, name, st)) return Fail(EEXIST);
    if (::renameat2(work, tmp.c_str(), upfd, name.c_str(), RENAME_EXCHANGE) != 0) {
      return FailErrno("publish");
    }
    (void)upper_->Discard(tmp);
  }
  // A ".wh." whiteout of the name is redundant now (a new directory was made opaque first).
  // A copied-up object was visible, so no such whiteout hid it.
  const std::string wh = std::string(kWhiteoutPrefix) + name;
  if (!copy_up && ::unlinkat(upfd, wh.c_str(), 0) != 0 && errno != ENOENT &&
      errno != ENAMETOOLONG) {
    return FailErrno("remove whiteout");
  }
  if (copy_up) {
    const struct timespec times[2] = {parent_st.st_atim, parent_st.st_mtim};
    ::utimensat(AT_FDCWD, ProcFdPath(upfd).c_str(), times, 0);  // best effort, as the kernel
  }
  return Ok();
}

Result<bool> UnionFs::ExistsBelow(const Inode& dir, const RealDirs& reals,
                                  const std::string& name) {
  auto found = FindReal(dir, reals, name, 1);
  if (found) return true;
  if (found.error().code == ENOENT) return false;
  return Unexpected{found.error()};
}

Status UnionFs::WriteWhiteout(int upfd, const std::string& name) {
  if (upper_->device_whiteouts()) {
    if (::mknodat(upfd, name.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) {
      return FailErrno("write whiteout");
    }
    return Ok();
  }
  const std::string wh = std::string(kWhiteoutPrefix) + name;
  UniqueFd fd(::openat(upfd, wh.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0));
  if (!fd) return FailErrno("write whiteout");
  return Ok();
}

Status UnionFs::RemoveUpper(int upfd, const std::string& name, bool whiteout) {
  const int work = upper_->work_fd();
  struct stat st;
  if (::fstatat(upfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return FailErrno("remove");
  const bool dir = S_ISDIR(st.st_mode);
  const std::string tmp = upper_->TempName();
  if (whiteout && upper_->device_whiteouts()) {
    // The whiteout replaces the object in one step.
    if (::mknodat(work, tmp.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) {
      return FailErrno("write whiteout");
    }
    if (::renameat2(work, tmp.c_str(), upfd, name.c_str(), dir ? RENAME_EXCHANGE : 0) != 0) {
      const int err = errno;
      ::unlinkat(work, tmp.c_str(), 0);
      return Fail(err, "write whiteout");
    }
    return dir ? upper_->Discard(tmp) : Ok();
  }
  if (whiteout) STRATA_RETURN_IF_ERROR(WriteWhiteout(upfd, name));  // ".wh.NAME" first
  if (!dir) {
    if (::unlinkat(upfd, name.c_str(), 0) != 0) return FailErrno("unlink");
    return Ok();
  }
  if (::unlinkat(upfd, name.c_str(), AT_REMOVEDIR) == 0) return Ok();
  if (errno != ENOTEMPTY && errno != EEXIST) return FailErrno("rmdir");
  // Holds whiteouts only (it is empty in the merged view): move it out, then clear it.
  if (::renameat(upfd, name.c_str(), work, tmp.c_str()) != 0) return FailErrno("rmdir");
  return upper_->Discard(tmp);
}

}  // namespace strata::core
