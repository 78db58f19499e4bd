#include "layerstore/import/layer_extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <unordered_map>
#include <vector>

#include "fs/base/unique_fd.h"
#include "layerstore/import/archive_error.h"
#include "layerstore/import/layer_stream.h"
#include "layerstore/import/tar_path.h"

namespace strata::store {
namespace {

// What this layer has put at a path so far. The destination starts empty, so this map is the
// whole truth about it and no decision needs to look at (or follow anything on) the disk.
enum class Made : char { kDir, kFile, kSymlink, kWhiteout, kOther };

std::string Join(const std::vector<std::string>& parts, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out;
}

std::string ProcPath(int dirfd, const std::string& name = "") {
  std::string p = "/proc/self/fd/" + std::to_string(dirfd);
  if (!name.empty()) p += "/" + name;
  return p;
}

struct ArchiveFree {
  void operator()(struct archive* a) const { archive_read_free(a); }
};

Status WriteAll(int fd, const char* data, size_t size, off_t offset) {
  while (size > 0) {
    ssize_t n = ::pwrite(fd, data, size, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno("write");
    data += n;
    size -= static_cast<size_t>(n);
    offset += n;
  }
  return Ok();
}

// rm -r of NAME under DIRFD without following anything.
Status RemoveTreeAt(int dirfd, const std::string& name) {
  UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return FailErrno("open " + name);
  DIR* d = ::fdopendir(fd.Get());
  if (!d) return FailErrno("fdopendir");
  fd.Release();
  std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
  while (struct dirent* de = ::readdir(d)) {
    const std::string child = de->d_name;
    if (child == "." || child == "..") continue;
    struct stat st;
    if (::fstatat(::dirfd(d), child.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      return FailErrno("stat");
    if (S_ISDIR(st.st_mode)) {
      STRATA_RETURN_IF_ERROR(RemoveTreeAt(::dirfd(d), child));
    } else if (::unlinkat(::dirfd(d), child.c_str(), 0) != 0) {
      return FailErrno("unlink " + child);
    }
  }
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0) return FailErrno("rmdir " + name);
  return Ok();
}

class Extractor {
 public:
  Extractor(int root, const ExtractOptions& options, const LayerStream* input)
      : root_(root), options_(options), input_(input) {}

  Status Entry(struct archive* a, struct archive_entry* e);
  // True after an entry whose data was complete ended the input without its padding (and so
  // without the end-of-archive blocks): the archive ends there.
  bool ended_early() const { return ended_early_; }
  // Directory modes and times, deepest first (creating children changed their mtimes).
  Status Finish();

 private:
  Unexpected Refuse(const std::string& why) const {
    return Fail(EINVAL, "entry '" + shown_ + "': " + why);
  }
  Status CheckMetadata(struct archive_entry* e) const;
  Result<UniqueFd> OpenParent(const std::vector<std::string>& parts, bool is_marker, bool* skip);
  Status Remove(int parent, const std::string& name, const std::string& path, Made kind);
  Status MakeOpaque(int dirfd);
  Status Whiteout(int parent, const std::string& parent_path, const std::string& target);
  Status HardLink(int parent, const std::string& name, const std::string& path, const char* target);
  Status WriteData(struct archive* a, struct archive_entry* e, int fd);
  Status SetXattrs(struct archive_entry* e, const std::string& proc_path);
  Status SetOwner(int parent, const std::string& name, struct archive_entry* e);
  Status SetTimes(int parent, const std::string& name, struct archive_entry* e);
  Status Create(struct archive* a, struct archive_entry* e, int parent, const std::string& name,
                const std::string& path, bool opaque);
  void RecordDir(const std::string& path, struct archive_entry* e);
  // The permission bits E gets on disk: its own, and, unprivileged, always the owner's
  // read and write (and search for directories), so the layer stays readable by the user who
  // imported it (to verify it, to serve it from stratafs). The real bits are then recorded in
  // the override (SetOwner).
  // Unprivileged, a symlink owned by someone else is kept as a regular file holding its target,
  // its owner and type in the override (a symlink cannot carry user.* xattrs).
  bool SymlinkPlaceholder(struct archive_entry* e) const {
    return !options_.privileged && archive_entry_filetype(e) == AE_IFLNK &&
           !(static_cast<uid_t>(archive_entry_uid(e)) == ::geteuid() &&
             static_cast<gid_t>(archive_entry_gid(e)) == ::getegid());
  }
  mode_t DiskMode(struct archive_entry* e) const {
    const mode_t perm = static_cast<mode_t>(archive_entry_perm(e));
    if (options_.privileged) return perm;
    const mode_t type = archive_entry_filetype(e);
    return perm | (type == AE_IFDIR ? 0700 : type == AE_IFLNK ? 0 : 0600);
  }

  struct DirMeta {
    std::string path;
    mode_t mode;
    struct timespec times[2];
  };

  int root_;
  ExtractOptions options_;
  const LayerStream* input_;
  bool ended_early_ = false;
  std::string shown_;  // the current entry's path as the archive spells it
  std::unordered_map<std::string, Made> made_;
  std::unordered_map<std::string, DirMeta> dirs_;
};

Status Extractor::CheckMetadata(struct archive_entry* e) const {
  const la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
  if (uid < 0 || uid > 0xFFFFFFFELL || gid < 0 || gid > 0xFFFFFFFELL) {
    return Refuse("owner " + std::to_string(uid) + ":" + std::to_string(gid) +
                  " is not a 32-bit id");
  }
  const char* name;
  const void* value;
  size_t size;
  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    if (IsOverlayPrivateXattr(name)) {
      return Refuse(std::string("xattr '") + name + "' is in an overlay-private namespace");
    }
    if (!options_.privileged && std::string_view(name).starts_with("trusted.")) {
      return Fail(ENOTSUP, "entry '" + shown_ + "': xattr '" + name + "' needs root");
    }
  }
  return Ok();
}

Result<UniqueFd> Extractor::OpenParent(const std::vector<std::string>& parts, bool is_marker,
                                       bool* skip) {
  UniqueFd cur(::openat(root_, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!cur) return FailErrno("open layer root");
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const std::string prefix = Join(parts, i + 1);
    auto it = made_.find(prefix);
    if (it == made_.end()) {
      // Tars may omit parent directories: make them as tar does.
      if (::mkdirat(cur.Get(), parts[i].c_str(), 0755) != 0) return FailErrno("mkdir " + prefix);
      made_[prefix] = Made::kDir;
    } else if (it->second == Made::kSymlink) {
      return Refuse("writes through the symlink '" + prefix + "'");
    } else if (it->second == Made::kWhiteout) {
      if (is_marker) {  // a whiteout under a whited-out parent: moot
        *skip = true;
        return UniqueFd();
      }
      // The layer deleted PREFIX below and re-creates it: a directory hiding lower layers.
      STRATA_RETURN_IF_ERROR(Remove(cur.Get(), parts[i], prefix, Made::kWhiteout));
      if (::mkdirat(cur.Get(), parts[i].c_str(), 0755) != 0) return FailErrno("mkdir " + prefix);
      made_[prefix] = Made::kDir;
      UniqueFd dir(
          ::openat(cur.Get(), parts[i].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!dir) return FailErrno("open " + prefix);
      STRATA_RETURN_IF_ERROR(MakeOpaque(dir.Get()));
    } else if (it->second != Made::kDir) {
      return Refuse("its parent '" + prefix + "' is not a directory");
    }
    UniqueFd next(
        ::openat(cur.Get(), parts[i].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) return FailErrno("open " + prefix);
    cur = std::move(next);
  }
  return cur;
}

Status Extractor::Remove(int parent, const std::string& name, const std::string& path, Made kind) {
  if (kind == Made::kDir) {
    STRATA_RETURN_IF_ERROR(RemoveTreeAt(parent, name));
    const std::string below = path + "/";
    std::erase_if(made_, [&](const auto& kv) { return kv.first.starts_with(below); });
    std::erase_if(dirs_, [&](const auto& kv) { return kv.first.starts_with(below); });
    dirs_.erase(path);
  } else {
    const std::string on_disk =
        kind == Made::kWhiteout && !options_.privileged ? ".wh." + name : name;
    if (::unlinkat(parent, on_disk.c_str(), 0) != 0) return FailErrno("unlink " + path);
  }
  made_.erase(path);
  return Ok();
}

Status Extractor::MakeOpaque(int dirfd) {
  const char* xattr = options_.privileged ? "trusted.overlay.opaque" : "user.overlay.opaque";
  if (::setxattr(ProcPath(dirfd).c_str(), xattr, "y", 1, 0) != 0) {
    return FailErrno("entry '" + shown_ + "': set " + xattr);
  }
  return Ok();
}

Status Extractor::Whiteout(int parent, const std::string& parent_path, const std::string& target) {
  const std::string path = parent_path.empty() ? target : parent_path + "/" + target;
  auto it = made_.find(path);
  if (it != made_.end()) {
    // This layer has the name itself; the whiteout only hides lower layers. A non-directory
    // hides them anyway; a directory must become opaque.
    if (it->second != Made::kDir) return Ok();
    UniqueFd dir(::openat(parent, target.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) return FailErrno("open " + path);
    return MakeOpaque(dir.Get());
  }
  if (options_.privileged) {
    if (::mknodat(parent, target.c_str(), S_IFCHR, makedev(0, 0)) != 0) {
      return FailErrno("whiteout " + path);
    }
  } else {
    // Readable by its owner, whatever mode the tar's whiteout entry had (buildah and podman
    // write 0000): the layer is read back to verify it.
    UniqueFd fd(::openat(parent, (".wh." + target).c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return FailErrno("whiteout " + path);
  }
  made_[path] = Made::kWhiteout;
  return Ok();
}

Status Extractor::HardLink(int parent, const std::string& name, const std::string& path,
                           const char* target) {
  auto parts = NormalizeTarPath(target);
  if (!parts) return Refuse("hard link target '" + std::string(target) + "' escapes the layer");
  if (parts->empty()) return Refuse("hard link to the layer root");
  const std::string target_path = Join(*parts, parts->size());
  auto it = made_.find(target_path);
  if (it == made_.end()) {
    return Refuse("hard link to '" + target_path + "', which this layer has not (yet) extracted");
  }
  if (it->second == Made::kDir) return Refuse("hard link to the directory '" + target_path + "'");
  if (it->second == Made::kWhiteout)
    return Refuse("hard link to the whiteout '" + target_path + "'");
  // The target's parents are directories of this layer (it was extracted through them).
  bool unused = false;
  STRATA_ASSIGN_OR_RETURN(UniqueFd target_parent, OpenParent(*parts, false, &unused));
  if (::linkat(target_parent.Get(), parts->back().c_str(), parent, name.c_str(), 0) != 0) {
    return FailErrno("link " + path);
  }
  made_[path] = it->second;
  return Ok();
}

Status Extractor::WriteData(struct archive* a, struct archive_entry* e, int fd) {
  const void* block;
  size_t size;
  la_int64_t offset;
  la_int64_t delivered = 0;
  for (;;) {
    int rc = archive_read_data_block(a, &block, &size, &offset);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) {
      // The input ended after all of the entry's data, where its padding to a 512-byte block
      // should follow (umoci 0.4's `insert` writes such tars, and umoci, podman and containerd
      // take them): the archive ends here. Data shorter than the header says stays an error.
      if (input_->at_end() && archive_entry_sparse_count(e) == 0 &&
          delivered == archive_entry_size(e)) {
        ended_early_ = true;
        break;
      }
      return Fail(EIO, "entry '" + shown_ + "': " + ArchiveError(a));
    }
    STRATA_RETURN_IF_ERROR(WriteAll(fd, static_cast<const char*>(block), size, offset));
    delivered = std::max(delivered, offset + static_cast<la_int64_t>(size));
  }
  // Trailing holes of sparse files: the size comes from the header, not the data.
  if (::ftruncate(fd, archive_entry_size(e)) != 0) return FailErrno("truncate");
  return Ok();
}

Status Extractor::SetXattrs(struct archive_entry* e, const std::string& proc_path) {
  const char* name;
  const void* value;
  size_t size;
  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    if (::lsetxattr(proc_path.c_str(), name, value, size, 0) != 0) {
      return FailErrno("entry '" + shown_ + "': set xattr " + name);
    }
  }
  return Ok();
}

Status Extractor::SetOwner(int parent, const std::string& name, struct archive_entry* e) {
  const uid_t uid = static_cast<uid_t>(archive_entry_uid(e));
  const gid_t gid = static_cast<gid_t>(archive_entry_gid(e));
  if (options_.privileged) {
    if (::fchownat(parent, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
      return FailErrno("chown " + shown_);
    }
    return Ok();
  }
  // Unprivileged: a foreign owner, permission bits that would lock the user out, or a device
  // node, FIFO or foreign symlink (extracted as a regular file: only regular files and
  // directories can carry user.* xattrs) is kept in user.containers.override_stat (the format
  // of fs/core/override_stat.h), which stratafs shows with -o xattr_permissions=2.
  const mode_t type = archive_entry_filetype(e);
  const bool device = type == AE_IFCHR || type == AE_IFBLK;
  const bool special = device || type == AE_IFIFO;
  const bool own = uid == ::geteuid() && gid == ::getegid();
  if (type == AE_IFLNK && !SymlinkPlaceholder(e)) return Ok();
  if (type != AE_IFLNK && !special && own && DiskMode(e) == archive_entry_perm(e)) return Ok();
  char value[96];
  int n = std::snprintf(value, sizeof value, "%u:%u:0%o", uid, gid,
                        static_cast<unsigned>(type | archive_entry_perm(e)));
  if (device) {
    const dev_t rdev = archive_entry_rdev(e);
    n += std::snprintf(value + n, sizeof value - static_cast<size_t>(n), ":%s-%u-%u",
                       type == AE_IFCHR ? "char" : "block", major(rdev), minor(rdev));
  }
  if (::lsetxattr(ProcPath(parent, name).c_str(), "user.containers.override_stat", value,
                  static_cast<size_t>(n), 0) != 0) {
    return FailErrno("entry '" + shown_ + "': record owner in user.containers.override_stat");
  }
  return Ok();
}

Status Extractor::SetTimes(int parent, const std::string& name, struct archive_entry* e) {
  struct timespec ts[2];
  ts[1] = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
  ts[0] = archive_entry_atime_is_set(e)
              ? timespec{archive_entry_atime(e), archive_entry_atime_nsec(e)}
              : ts[1];
  if (::utimensat(parent, name.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) {
    return FailErrno("set times " + shown_);
  }
  return Ok();
}

void Extractor::RecordDir(const std::string& path, struct archive_entry* e) {
  DirMeta meta{path, DiskMode(e), {}};
  meta.times[1] = {archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
  meta.times[0] = archive_entry_atime_is_set(e)
                      ? timespec{archive_entry_atime(e), archive_entry_atime_nsec(e)}
                      : meta.times[1];
  dirs_[path] = meta;
}

Status Extractor::Create(struct archive* a, struct archive_entry* e, int parent,
                         const std::string& name, const std::string& path, bool opaque) {
  const mode_t type = archive_entry_filetype(e);
  const mode_t perm = DiskMode(e);
  switch (type) {
    case AE_IFREG: {
      UniqueFd fd(::openat(parent, name.c_str(),
                           O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!fd) return FailErrno("create " + path);
      STRATA_RETURN_IF_ERROR(WriteData(a, e, fd.Get()));
      made_[path] = Made::kFile;
      STRATA_RETURN_IF_ERROR(SetOwner(parent, name, e));
      // After chown, which clears setuid/setgid.
      if (::fchmod(fd.Get(), perm) != 0) return FailErrno("chmod " + path);
      STRATA_RETURN_IF_ERROR(SetXattrs(e, ProcPath(parent, name)));
      return SetTimes(parent, name, e);
    }
    case AE_IFDIR: {
      if (::mkdirat(parent, name.c_str(), 0700) != 0) return FailErrno("mkdir " + path);
      made_[path] = Made::kDir;
      STRATA_RETURN_IF_ERROR(SetOwner(parent, name, e));
      STRATA_RETURN_IF_ERROR(SetXattrs(e, ProcPath(parent, name)));
      if (opaque) {
        UniqueFd dir(::openat(parent, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!dir) return FailErrno("open " + path);
        STRATA_RETURN_IF_ERROR(MakeOpaque(dir.Get()));
      }
      RecordDir(path, e);  // mode and times once its children are in
      return Ok();
    }
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(e);
      if (target == nullptr || *target == '\0') return Refuse("symlink without a target");
      made_[path] = Made::kSymlink;
      if (SymlinkPlaceholder(e)) {
        UniqueFd fd(::openat(parent, name.c_str(),
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!fd) return FailErrno("create " + path);
        STRATA_RETURN_IF_ERROR(WriteAll(fd.Get(), target, std::strlen(target), 0));
      } else if (::symlinkat(target, parent, name.c_str()) != 0) {
        return FailErrno("symlink " + path);
      }
      STRATA_RETURN_IF_ERROR(SetOwner(parent, name, e));
      STRATA_RETURN_IF_ERROR(SetXattrs(e, ProcPath(parent, name)));
      return SetTimes(parent, name, e);
    }
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO: {
      if (type != AE_IFIFO && type == AE_IFCHR && archive_entry_rdev(e) == 0) {
        return Refuse("a char 0/0 device is an overlay whiteout, not layer content");
      }
      const dev_t rdev = type == AE_IFIFO ? 0 : archive_entry_rdev(e);
      if (!options_.privileged) {
        // An empty file standing for the device or FIFO; SetOwner records what it is.
        UniqueFd fd(::openat(parent, name.c_str(),
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!fd) return FailErrno("create " + path);
      } else if (::mknodat(parent, name.c_str(), type | 0600, rdev) != 0) {
        return FailErrno("mknod " + path);
      }
      made_[path] = Made::kOther;
      STRATA_RETURN_IF_ERROR(SetOwner(parent, name, e));
      if (::fchmodat(parent, name.c_str(), perm, 0) != 0) return FailErrno("chmod " + path);
      STRATA_RETURN_IF_ERROR(SetXattrs(e, ProcPath(parent, name)));
      return SetTimes(parent, name, e);
    }
    default:
      return Refuse("unsupported entry type (0" + std::to_string(type >> 12) + ")");
  }
}

Status Extractor::Entry(struct archive* a, struct archive_entry* e) {
  const char* raw = archive_entry_pathname(e);
  if (raw == nullptr) return Fail(EINVAL, "an entry without a path");
  shown_ = raw;
  auto normalized = NormalizeTarPath(raw);
  if (!normalized) return Refuse(normalized.error().context);
  const std::vector<std::string>& parts = *normalized;
  const char* hardlink = archive_entry_hardlink(e);
  const mode_t type = archive_entry_filetype(e);
  STRATA_RETURN_IF_ERROR(CheckMetadata(e));

  if (parts.empty()) {
    if (hardlink != nullptr || type != AE_IFDIR) {
      return Refuse("the layer root can only be a directory");
    }
    STRATA_RETURN_IF_ERROR(SetOwner(root_, ".", e));
    STRATA_RETURN_IF_ERROR(SetXattrs(e, ProcPath(root_)));
    RecordDir("", e);
    return Ok();
  }
  auto classified = ClassifyName(parts.back());
  if (!classified) return Refuse(classified.error().context);
  const bool is_marker = classified->kind != EntryKind::kNormal;
  bool skip = false;
  STRATA_ASSIGN_OR_RETURN(UniqueFd parent, OpenParent(parts, is_marker, &skip));
  if (skip) return Ok();
  const std::string parent_path = Join(parts, parts.size() - 1);
  if (classified->kind == EntryKind::kOpaque) return MakeOpaque(parent.Get());
  if (classified->kind == EntryKind::kWhiteout) {
    return Whiteout(parent.Get(), parent_path, classified->target);
  }

  const std::string& name = parts.back();
  const std::string path = Join(parts, parts.size());
  bool opaque = false;
  if (auto it = made_.find(path); it != made_.end()) {
    if (it->second == Made::kDir && type == AE_IFDIR && hardlink == nullptr) {
      // A duplicate directory: the last one's metadata wins, the contents stay.
      STRATA_RETURN_IF_ERROR(SetOwner(parent.Get(), name, e));
      STRATA_RETURN_IF_ERROR(SetXattrs(e, ProcPath(parent.Get(), name)));
      RecordDir(path, e);
      return Ok();
    }
    // Re-created after this layer whited it out: a directory must hide lower layers.
    opaque = it->second == Made::kWhiteout && type == AE_IFDIR && hardlink == nullptr;
    STRATA_RETURN_IF_ERROR(Remove(parent.Get(), name, path, it->second));
  }
  if (hardlink != nullptr) return HardLink(parent.Get(), name, path, hardlink);
  return Create(a, e, parent.Get(), name, path, opaque);
}

Status Extractor::Finish() {
  std::vector<const DirMeta*> order;
  for (const auto& [path, meta] : dirs_) order.push_back(&meta);
  // Deepest first, so setting a directory's times is not undone by its children.
  std::sort(order.begin(), order.end(), [](const DirMeta* x, const DirMeta* y) {
    return std::count(x->path.begin(), x->path.end(), '/') + !x->path.empty() >
           std::count(y->path.begin(), y->path.end(), '/') + !y->path.empty();
  });
  for (const DirMeta* meta : order) {
    const char* name = meta->path.empty() ? "." : meta->path.c_str();
    if (::fchmodat(root_, name, meta->mode, 0) != 0) return FailErrno("chmod " + meta->path);
    if (::utimensat(root_, name, meta->times, AT_SYMLINK_NOFOLLOW) != 0) {
      return FailErrno("set times " + meta->path);
    }
  }
  return Ok();
}

struct TarSource {
  explicit TarSource(LayerStream* s) : stream(s) {}
  LayerStream* stream;
  std::vector<char> buffer = std::vector<char>(1 << 17);
  Error error;
  bool failed = false;
};

la_ssize_t TarRead(struct archive* a, void* self, const void** out) {
  auto* src = static_cast<TarSource*>(self);
  auto n = src->stream->Read(src->buffer.data(), src->buffer.size());
  if (!n) {
    src->error = n.error();
    src->failed = true;
    archive_set_error(a, n.error().code, "%s", n.error().context.c_str());
    return -1;
  }
  *out = src->buffer.data();
  return static_cast<la_ssize_t>(*n);
}

}  // namespace

Result<ExtractResult> ExtractLayer(int blob_fd, int dest_dirfd, const ExtractOptions& options) {
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<LayerStream> stream, LayerStream::Open(blob_fd));
  TarSource source(stream.get());
  std::unique_ptr<struct archive, ArchiveFree> tar(archive_read_new());
  archive_read_support_format_tar(tar.get());  // ustar, pax (global headers ignored), GNU
  if (archive_read_open(tar.get(), &source, nullptr, TarRead, nullptr) != ARCHIVE_OK) {
    if (source.failed) return Unexpected{source.error};
    return Fail(EIO, std::string("layer tar: ") + ArchiveError(tar.get()));
  }
  Extractor extractor(dest_dirfd, options, stream.get());
  ExtractResult result;
  for (;;) {
    struct archive_entry* entry = nullptr;
    int rc = archive_read_next_header(tar.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) {
      if (source.failed) return Unexpected{source.error};
      return Fail(EIO, std::string("layer tar: ") + ArchiveError(tar.get()));
    }
    STRATA_RETURN_IF_ERROR(extractor.Entry(tar.get(), entry));
    ++result.entries;
    if (extractor.ended_early()) break;
  }
  STRATA_RETURN_IF_ERROR(extractor.Finish());
  STRATA_RETURN_IF_ERROR(stream->Drain());
  result.compression = stream->compression();
  result.tar_bytes = stream->uncompressed_bytes();
  result.blob_digest = stream->BlobDigest();
  result.diff_id = stream->DiffId();
  return result;
}

}  // namespace strata::store
