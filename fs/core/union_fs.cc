#include "fs/core/union_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "fs/base/log.h"
#include "fs/core/dir_merge.h"
#include "fs/core/layer_format.h"
#include "fs/core/lower_index.h"
#include "fs/core/xattr_io.h"

namespace strata::core {
namespace {

bool IsWhiteout(const DirReal& real, int dirfd, const std::string& name, const struct stat& st) {
  return IsDeviceWhiteout(st) || (real.xattr_whiteouts && IsXattrWhiteout(dirfd, name, st));
}

// The fd budget when the configuration leaves it to us: a quarter of what this process may
// open (the rest is for open files, anchors and libfuse).
size_t DefaultDirFdBudget() {
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 4096;
  return std::max<size_t>(64, static_cast<size_t>(rl.rlim_cur / 4));
}

// Directory DIR beneath layer root ROOT (OpenDirBeneath); an empty fd if it is not there.
Result<UniqueFd> OpenBeneath(int root, const std::string& dir) {
  UniqueFd fd = OpenDirBeneath(root, dir);
  if (fd || errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV) return fd;
  return FailErrno("metacopy redirect lookup");
}

}  // namespace

UnionFs::UnionFs(UnionConfig config, LayerStack layers, std::unique_ptr<UpperLayer> upper,
                 std::unique_ptr<FdBudget> dir_fds, std::shared_ptr<Inode> root)
    : config_(std::move(config)),
      layers_(std::move(layers)),
      upper_(std::move(upper)),
      dir_fds_(std::move(dir_fds)),
      table_(std::move(root)) {}

Result<std::unique_ptr<UnionFs>> UnionFs::Open(const UnionConfig& config) {
  std::unique_ptr<UpperLayer> upper;
  if (config.lowerdirs.empty() && !config.datadirs.empty()) {
    return Fail(EINVAL, "data-only layers need a lower layer above them");
  }
  std::vector<std::string> paths = config.lowerdirs;
  paths.insert(paths.end(), config.datadirs.begin(), config.datadirs.end());
  if (!config.upperdir.empty()) {
    if (paths.size() + 1 > kMaxLayers) {
      return Fail(EINVAL, "at most " + std::to_string(kMaxLayers - 1) +
                              " lower layers are supported under an upper layer");
    }
    UpperConfig uc{config.upperdir, config.workdir, config.fsync, config.userxattr,
                   config.oci_whiteouts};
    STRATA_ASSIGN_OR_RETURN(upper, UpperLayer::Open(uc, paths));
    paths.insert(paths.begin(), config.upperdir);
  }
  STRATA_ASSIGN_OR_RETURN(LayerStack layers, LayerStack::Open(paths));
  auto root = std::make_shared<Inode>(S_IFDIR);
  // The root merges every layer but the data-only ones: like kernel overlayfs, opacity is not
  // applied to the root. Its fds are held (the root lives as long as the mount).
  auto reals = std::make_shared<RealDirs>();
  for (size_t i = 0; i < layers.size() - config.datadirs.size(); ++i) {
    UniqueFd fd(::openat(layers[i].root.Get(), ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return FailErrno("open layer root");
    STRATA_ASSIGN_OR_RETURN(DirMarks marks, ReadDirMarks(fd.Get()));
    reals->push_back(
        MakeDirReal(static_cast<int>(i), DirFd::Held(std::move(fd)), marks, upper && i == 0));
  }
  struct stat st;
  if (::fstat(layers[0].root.Get(), &st) != 0) return FailErrno("stat root");
  root->st_ino = layers.MapIno(0, st.st_ino);
  root->SetReals(std::move(reals));
  root->SetPlace(std::make_shared<Placement>());
  root->SetLowerPath("/");
  auto dir_fds = std::make_unique<FdBudget>(config.dir_fd_budget != 0 ? config.dir_fd_budget
                                                                      : DefaultDirFdBudget());
  return std::unique_ptr<UnionFs>(new UnionFs(config, std::move(layers), std::move(upper),
                                              std::move(dir_fds), std::move(root)));
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
  // With an upper layer, names come and go under the listing: always walk from the top.
  if (upper_ || NeverVisible(listed.name) || listed.real_index >= parent->Reals()->size()) {
    return Lookup(parent_id, listed.name);
  }
  auto entry = LookupFrom(parent, listed.name, listed.real_index);
  if (!entry && entry.error().code == ENOENT) return Lookup(parent_id, listed.name);
  return entry;
}

namespace {

enum class Probe { kFound, kHidden, kAbsent };

// NAME in one real directory: an object (its lstat in *ST), hidden (a whiteout of it, or an OCI
// ".wh.NAME" beside the absent name: nothing below shows), or absent.
Result<Probe> ProbeOne(const DirReal& real, const std::string& name, struct stat* st) {
  STRATA_ASSIGN_OR_RETURN(FdLease dir, real.fd.Open());
  if (::fstatat(dir->Get(), name.c_str(), st, AT_SYMLINK_NOFOLLOW) == 0) {
    return IsWhiteout(real, dir->Get(), name, *st) ? Probe::kHidden : Probe::kFound;
  }
  if (errno != ENOENT) return FailErrno("lookup");
  STRATA_ASSIGN_OR_RETURN(bool whited, HasOciWhiteout(dir->Get(), name));
  return whited ? Probe::kHidden : Probe::kAbsent;
}

}  // namespace

Result<UnionFs::Found> UnionFs::ProbeReals(const RealDirs& reals, const std::string& name,
                                           size_t start, size_t first_lower, int* probed) {
  Found found;
  for (size_t i = start; i < reals.size(); ++i) {
    if (i >= first_lower) ++*probed;
    STRATA_ASSIGN_OR_RETURN(Probe p, ProbeOne(reals[i], name, &found.st));
    if (p == Probe::kHidden) return Fail(ENOENT);
    if (p == Probe::kFound) {
      found.index = i;
      return found;
    }
  }
  return Fail(ENOENT);
}

Result<UnionFs::Found> UnionFs::FindReal(const Inode& dir, const RealDirs& reals,
                                         const std::string& name, size_t start) {
  // A lookup that probes fewer lower layers than this gains nothing from an index.
  constexpr int kDeep = 3;
  const size_t first_lower = upper_ && !reals.empty() && reals[0].layer == 0 ? 1 : 0;
  int probed = 0;
  if (config_.index_lookups_after < 0 || reals.size() < first_lower + kDeep ||
      HasWhiteoutPrefix(name)) {
    return ProbeReals(reals, name, start, first_lower, &probed);
  }
  std::shared_ptr<const LowerIndex> index = dir.Index();
  const bool stale = index && !index->Matches(reals, first_lower);
  if (index && !stale) {
    if (index->too_big) return ProbeReals(reals, name, start, first_lower, &probed);
    // The upper directory as always, then only the lower layer the index names, if any.
    Found found;
    if (start < first_lower) {
      STRATA_ASSIGN_OR_RETURN(Probe p, ProbeOne(reals[0], name, &found.st));
      if (p == Probe::kHidden) return Fail(ENOENT);
      if (p == Probe::kFound) return found;  // index 0
    }
    const size_t from = std::max(start, first_lower);
    auto it = index->layer_of.find(name);
    if (it == index->layer_of.end()) return Fail(ENOENT);
    for (size_t j = from; j < reals.size(); ++j) {
      if (reals[j].layer != it->second) continue;
      STRATA_ASSIGN_OR_RETURN(Probe p, ProbeOne(reals[j], name, &found.st));
      if (p == Probe::kFound) {
        found.index = j;
        return found;
      }
      break;
    }
    // Not where the index says (above START, or a layer changed behind the mount): probe.
    return ProbeReals(reals, name, from, first_lower, &probed);
  }
  auto found = ProbeReals(reals, name, start, first_lower, &probed);
  if (probed >= kDeep) {
    // Worth indexing: built by exactly one lookup (the one that reaches the count), or again
    // at once if the directory's lower part changed. A failure only means probing on.
    const uint32_t after = static_cast<uint32_t>(std::max(config_.index_lookups_after, 1));
    if (stale || dir.dir->deep_lookups.fetch_add(1, std::memory_order_relaxed) + 1 == after) {
      auto built = BuildLowerIndex(reals, first_lower, layers_);
      if (built) dir.SetIndex(std::move(*built));
    }
  }
  return found;
}

Result<Entry> UnionFs::LookupFrom(const std::shared_ptr<Inode>& parent, const std::string& name,
                                  size_t start) {
  std::shared_lock names(parent->dir->names_mu);
  auto reals = parent->Reals();
  STRATA_ASSIGN_OR_RETURN(Found found, FindReal(*parent, *reals, name, start));
  return NodeFor(parent, reals, name, found);
}

Result<Entry> UnionFs::NodeFor(const std::shared_ptr<Inode>& parent,
                               const std::shared_ptr<const RealDirs>& reals,
                               const std::string& name, Found found) {
  struct stat& st = found.st;
  const DirReal& top = (*reals)[found.index];
  const bool in_upper = upper_ && top.layer == 0;
  const bool is_dir = S_ISDIR(st.st_mode);
  STRATA_ASSIGN_OR_RETURN(FdLease top_fd, top.fd.Open());

  // A directory's markers are needed to build it, and hold its kept st_ino if copied up.
  DirMarks marks;
  UniqueFd dir_fd;
  uint64_t ino = 0;
  if (is_dir) {
    dir_fd = UniqueFd(
        ::openat(top_fd->Get(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir_fd) return FailErrno("open layer directory");
    STRATA_ASSIGN_OR_RETURN(marks, ReadDirMarks(dir_fd.Get()));
    ino = marks.ino;
  } else if (in_upper) {
    ino = ReadStoredIno(top_fd->Get(), name, upper_->xattr_prefix());
  } else if (!top.kept_ino_prefix.empty()) {
    ino = ReadLowerKeptIno(top_fd->Get(), name, top.kept_ino_prefix);  // a former upper layer
  }
  if (ino == 0) ino = layers_.MapIno(top.layer, st.st_ino);

  auto place = std::make_shared<Placement>();
  place->parent = parent;
  place->parent_reals = reals;
  place->parent_index = static_cast<uint32_t>(found.index);
  place->name = name;
  place->layer = top.layer;
  if (!is_dir && !in_upper && upper_ && st.st_nlink > 1) {
    // A lower hard link whose file was copied up through another name: the data is the copy.
    auto indexed = std::make_shared<UniqueFd>(
        ::openat(upper_->index_fd(), std::to_string(ino).c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (*indexed) {
      place->anchor = std::move(indexed);
      place->layer = 0;
    }
  }

  // A metacopy file's data, found only when PLACE becomes a node's (a node already placed
  // has it): a revalidating lookup of a known node costs nothing more.
  auto find_data = [&]() -> Status {
    const std::string_view prefix = in_upper ? upper_->xattr_prefix() : top.kept_ino_prefix;
    if (place->anchor || !MayBeMetacopy(st) || prefix.empty()) return Ok();
    if (auto redirect = ReadMetacopy(top_fd->Get(), name, prefix)) {
      STRATA_ASSIGN_OR_RETURN(place->data, FindData(reals, found.index, name, *redirect));
    }
    return Ok();
  };

  // What the lookup found is what users see, unless the node lives elsewhere (another name of
  // a hard link, an indexed copy), its link count needs the index's correction, or its
  // blocks are its data's (a metacopy file).
  bool restat = place->anchor || (in_upper && !is_dir && st.st_nlink > 1) || Overrides();
  std::shared_ptr<Inode> node = table_.FindAndRef(ino);
  if (node && node->type != (st.st_mode & S_IFMT)) {
    // Every node keeps its real object alive (inode.h), so its number cannot name another
    // object while it exists, unless a layer was changed behind the mount's back. Then this is
    // a new object: it gets a new node, never the old one's identity.
    STRATA_LOG(kWarn) << "inode " << ino << " changed type behind the mount ('" << name
                      << "'): layers must not be modified while mounted";
    table_.Forget(node->id, 1);
    table_.Unkey(*node);
    node = nullptr;
  }
  if (node) {
    if (!node->IsDir()) {
      auto current = node->Place();
      if (current->removed) {
        // Another name of a hard-linked file whose old name was removed: live here now. The
        // caller holds PARENT's names, so NAME stays; op_mu orders this with removals of the
        // node's other names.
        std::lock_guard lock(node->op_mu);
        if (node->Place()->removed) {
          if (Status s = find_data(); !s) {
            table_.Forget(node->id, 1);
            return Unexpected{s.error()};
          }
          node->SetPlace(place);
        }
        current = node->Place();
      }
      restat = restat || current->anchor || current->data || current->layer != place->layer ||
               current->name != name || current->parent != parent;
    }
  } else {
    auto fresh = std::make_shared<Inode>(st.st_mode & S_IFMT);
    fresh->st_ino = ino;
    if (is_dir) {
      auto dir_reals = std::make_shared<RealDirs>();
      DirFd fd = in_upper
                     ? UpperDirFd(fresh, std::move(dir_fd), st)
                     : LowerDirFd(top.layer, std::move(dir_fd), JoinBeneath(top.fd.path(), name));
      dir_reals->push_back(MakeDirReal(top.layer, std::move(fd), marks, in_upper));
      // Where its lower directories are: its own path, unless redirected (absolute, or a name
      // in the parent's lower directory).
      const std::string parent_path = parent->LowerPath();
      auto join = [&](const std::string& leaf) {
        return (parent_path == "/" ? "" : parent_path) + "/" + leaf;
      };
      std::string lower_path = marks.redirect.empty()     ? join(name)
                               : marks.redirect[0] == '/' ? marks.redirect
                                                          : join(marks.redirect);
      STRATA_ASSIGN_OR_RETURN(bool whited, HasOciWhiteout(top_fd->Get(), name));
      if (!whited) STRATA_RETURN_IF_ERROR(CompleteDir(*reals, name, marks, dir_reals.get()));
      fresh->SetReals(std::move(dir_reals));
      fresh->SetLowerPath(std::move(lower_path));
    }
    STRATA_RETURN_IF_ERROR(find_data());
    restat = restat || place->data;
    fresh->SetPlace(std::move(place));
    node = table_.InsertAndRef(std::move(fresh));
  }
  if (restat) {
    auto now = Stat(*node);
    if (!now) {
      table_.Forget(node->id, 1);
      return Unexpected{now.error()};
    }
    st = *now;
  }
  st.st_ino = node->st_ino;
  Present(*node, &st);
  return Entry{node->id, st};
}

Result<std::shared_ptr<const Placement>> UnionFs::FindData(
    const std::shared_ptr<const RealDirs>& reals, size_t index, std::string name,
    std::string redirect) {
  // Each hop reaches a lower layer than the one before: at most one per layer.
  int layer = (*reals)[index].layer;
  std::string absolute;  // once a redirect is absolute, the chain goes on by path
  for (size_t hop = 0; hop < layers_.size(); ++hop) {
    if (!redirect.empty() && redirect[0] == '/') {
      absolute = redirect;
    } else if (!redirect.empty()) {
      if (NeverVisible(redirect)) return Fail(EIO, "metacopy redirect '" + redirect + "'");
      if (!absolute.empty()) absolute = absolute.substr(0, absolute.rfind('/') + 1) + redirect;
      name = redirect;
    }
    auto data = std::make_shared<Placement>();
    struct stat st;
    if (absolute.empty()) {
      int probed = 0;
      auto found = ProbeReals(*reals, name, index + 1, reals->size(), &probed);
      if (!found) {
        if (found.error().code != ENOENT) return Unexpected{found.error()};
        return Fail(EIO, "metacopy file '" + name + "' has no data below it");
      }
      index = found->index;
      st = found->st;
      data->parent_reals = reals;
      data->parent_index = static_cast<uint32_t>(index);
      data->name = name;
      data->layer = (*reals)[index].layer;
    } else {
      STRATA_ASSIGN_OR_RETURN(bool found, FindByPath(absolute, layer + 1, data.get(), &st));
      if (!found) return Fail(EIO, "metacopy redirect '" + absolute + "' has no data");
    }
    if (!S_ISREG(st.st_mode)) return Fail(EIO, "metacopy data of '" + name + "' is no file");
    layer = data->layer;
    // Reached by path, its directory's markers are unknown: both namespaces are checked.
    const std::string prefix = absolute.empty() ? (*reals)[index].kept_ino_prefix : "";
    std::optional<std::string> next;
    if (MayBeMetacopy(st) && (!absolute.empty() || !prefix.empty())) {
      STRATA_ASSIGN_OR_RETURN(FdLease dir, data->Dir());
      next = ReadMetacopy(dir->Get(), data->name, prefix);
    }
    if (!next) return std::shared_ptr<const Placement>(std::move(data));
    redirect = *next;  // a metacopy file below, too: its data is further down
  }
  return Fail(EIO, "metacopy chain of '" + name + "' is too long");
}

Result<bool> UnionFs::FindByPath(const std::string& path, int first_layer, Placement* out,
                                 struct stat* st) {
  const size_t slash = path.rfind('/');
  const std::string dir = path.substr(1, slash == 0 ? 0 : slash - 1);
  const std::string leaf = path.substr(slash + 1);
  if (NeverVisible(leaf)) return false;
  for (size_t layer = static_cast<size_t>(first_layer); layer < layers_.size(); ++layer) {
    STRATA_ASSIGN_OR_RETURN(UniqueFd fd, OpenBeneath(layers_[layer].root.Get(), dir));
    if (!fd) continue;
    if (::fstatat(fd.Get(), leaf.c_str(), st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) continue;
      return FailErrno("metacopy redirect lookup");
    }
    auto dirs = std::make_shared<RealDirs>();
    dirs->push_back(DirReal{static_cast<int>(layer),
                            LowerDirFd(static_cast<int>(layer), std::move(fd), dir),
                            false,
                            {}});
    out->parent_reals = std::move(dirs);
    out->parent_index = 0;
    out->name = leaf;
    out->layer = static_cast<int>(layer);
    return true;
  }
  return false;
}

void UnionFs::Present(Inode& node, struct stat* st) {
  config_.ids.Show(st);
  if (!node.IsDir()) {
    if (st->st_nlink > 1 && !node.several_links.load(std::memory_order_relaxed)) {
      node.several_links.store(true, std::memory_order_relaxed);
    }
    return;
  }
  if (config_.static_nlink) {
    st->st_nlink = 1;
  } else if (node.Reals()->size() > 1) {
    st->st_nlink = MergedNlink(node);
  }  // a directory from one layer keeps its real count: its subdirectories are all visible
}

uint32_t UnionFs::MergedNlink(Inode& node) {
  // The count is cached tagged with the change counter it was computed at: a listing taken
  // while the directory changed is tagged with the older count and never matches again.
  const uint32_t changes = node.dir->changes.load(std::memory_order_acquire);
  const uint64_t cached = node.dir->merged_nlink.load(std::memory_order_acquire);
  if (cached != 0 && static_cast<uint32_t>(cached >> 32) == changes) {
    return static_cast<uint32_t>(cached);
  }
  auto reals = node.Reals();
  MergeInput input{reals.get(), node.st_ino, node.st_ino, {}};
  auto entries = MergeDirectory(input, layers_);
  if (!entries) return 1;  // "unknown", as kernel overlayfs reports for merged dirs
  uint32_t nlink = 0;      // "." and ".." are in the listing: 2 + subdirectories
  for (const DirEntry& e : *entries) nlink += e.d_type == DT_DIR ? 1 : 0;
  node.dir->merged_nlink.store(uint64_t{changes} << 32 | nlink, std::memory_order_release);
  return nlink;
}

Result<struct stat> UnionFs::Stat(const Inode& node) {
  return StablePlaced(
      node, [&]() -> Result<struct stat> {
        struct stat st;
        if (node.IsDir()) {
          auto reals = node.Reals();
          STRATA_ASSIGN_OR_RETURN(FdLease dir, (*reals)[0].fd.Open());
          if (::fstatat(dir->Get(), "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) {
            return FailErrno("stat");
          }
        } else {
          auto place = node.Place();
          STRATA_ASSIGN_OR_RETURN(RealAt at, place->At());
          if (::fstatat(at.dirfd, at.path, &st, at.flags) != 0) return FailErrno("stat");
          if (const Placement* data = place->data.get()) {
            // As kernel overlayfs: a metacopy file occupies what its data does.
            STRATA_ASSIGN_OR_RETURN(RealAt data_at, data->At());
            struct stat data_st;
            if (::fstatat(data_at.dirfd, data_at.path, &data_st, data_at.flags) != 0) {
              return FailErrno("stat metacopy data");
            }
            st.st_blocks = data_st.st_blocks;
          }
          if (place->removed && place->layer != 0) {
            st.st_nlink = 0;  // a lower object whose only name is gone (ext4 and fstat(2) say 0)
          } else if (place->layer == 0 && upper_ && (st.st_nlink > 1 || place->anchor)) {
            // An indexed copy: one link is the index's; its lower names not yet linked count.
            auto lower = ReadStoredNumber(at.dirfd, place->anchor ? "" : place->name,
                                          upper_->xattr_prefix(), kLowerLinksSuffix);
            if (lower) st.st_nlink = st.st_nlink - 1 + *lower;
          }
        }
        st.st_ino = node.st_ino;
        if (Overrides()) {
          STRATA_ASSIGN_OR_RETURN(const RealRef ref, RefOf(node));
          auto o = ReadOverrideStat(ref.path, ref.follow, config_.override_xattr);
          if (o) ApplyOverride(*o, &st);
        }
        return st;
      });
}

bool UnionFs::KernelMayCacheAttr(InodeId id) const {
  if (!upper_) return true;  // nothing changes
  auto node = table_.Get(id);
  return node == nullptr || node->IsDir() || !node->several_links.load(std::memory_order_relaxed);
}

Result<struct stat> UnionFs::GetAttr(InodeId id) {
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  STRATA_ASSIGN_OR_RETURN(struct stat st, Stat(*node));
  Present(*node, &st);
  return st;
}

Result<std::string> UnionFs::ReadLink(InodeId id) {
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  // A regular file may stand for a symlink an unprivileged import could not own
  // (override_stat.h).
  const bool placeholder = S_ISREG(node->type) && Overrides();
  if (!S_ISLNK(node->type) && !placeholder) return Fail(EINVAL);
  return StablePlaced(*node, [&]() -> Result<std::string> {
    auto place = node->Place();
    std::string target(PATH_MAX, '\0');
    ssize_t n;
    if (placeholder) {
      STRATA_ASSIGN_OR_RETURN(const RealRef ref, RefOf(*node));
      auto o = ReadOverrideStat(ref.path, ref.follow, config_.override_xattr);
      if (!o || !S_ISLNK(o->mode)) return Fail(EINVAL);
      STRATA_ASSIGN_OR_RETURN(UniqueFd fd, OpenReal(place->DataPlace(), O_RDONLY));
      n = ::pread(fd.Get(), target.data(), target.size(), 0);
    } else {
      STRATA_ASSIGN_OR_RETURN(RealAt at, place->At());
      n = ::readlinkat(at.dirfd, at.path, target.data(), target.size());
    }
    if (n < 0) return FailErrno("readlink");
    target.resize(static_cast<size_t>(n));
    return target;
  });
}

Result<struct statvfs> UnionFs::StatFs() {
  struct statvfs sv;
  if (::fstatvfs(layers_[0].root.Get(), &sv) != 0) return FailErrno("statfs");
  if (upper_ && !upper_->device_whiteouts() && sv.f_namemax > kWhiteoutPrefix.size()) {
    sv.f_namemax -= kWhiteoutPrefix.size();
  }
  return sv;
}

Status UnionFs::Access(InodeId id, int mask, const Caller& caller) {
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  if (mask == F_OK) return Ok();
  if ((mask & W_OK) && !upper_) return Fail(EROFS);
  STRATA_ASSIGN_OR_RETURN(struct stat st, Stat(*node));
  config_.ids.Show(&st);  // the caller's ids are as users see them
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
  const mode_t want = ((mask & R_OK) ? 4 : 0) | ((mask & W_OK) ? 2 : 0) | ((mask & X_OK) ? 1 : 0);
  if ((bits & want) != want) return Fail(EACCES);
  return Ok();
}

Result<UniqueFd> UnionFs::OpenReal(const Placement& place, int flags) {
  const int real_flags = (flags & ~(O_CREAT | O_EXCL | O_NOCTTY)) | O_CLOEXEC;
  if (place.anchor) {
    UniqueFd fd(::open(ProcFdPath(place.anchor->Get()).c_str(), real_flags & ~O_NOFOLLOW));
    if (!fd) return FailErrno("open");
    return fd;
  }
  STRATA_ASSIGN_OR_RETURN(FdLease dir, place.Dir());
  UniqueFd fd(::openat(dir->Get(), place.name.c_str(), real_flags | O_NOFOLLOW));
  if (!fd) return FailErrno("open");
  return fd;
}

Result<std::unique_ptr<FileHandle>> UnionFs::OpenFile(InodeId id, int flags) {
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  if (node->IsDir()) return Fail(EISDIR);
  std::shared_ptr<const Placement> place;
  uint32_t gen;
  std::unique_lock<SmallMutex> lock;
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) {
    STRATA_RETURN_IF_ERROR(CheckWritable());
    lock = std::unique_lock(node->op_mu);
    STRATA_ASSIGN_OR_RETURN(place, EnsureUpperFile(node));
    gen = node->data_gen.load(std::memory_order_acquire);
  } else {
    // The generation first: if a copy-up lands in between, the handle reopens at its first I/O.
    gen = node->data_gen.load(std::memory_order_acquire);
  }
  bool in_upper = place && place->layer == 0;
  auto fd = lock ? OpenReal(*place, flags) : StablePlaced(*node, [&] {
    const auto now = node->Place();
    in_upper = now->layer == 0 && !now->data;  // layer 0 is the upper one
    return OpenReal(now->DataPlace(), flags);
  });
  if (!fd) return Unexpected{fd.error()};
  const bool settled = !writable() || in_upper;
  return std::make_unique<FileHandle>(std::move(node), flags & ~O_TRUNC, std::move(*fd), gen,
                                      settled);
}

Result<int> UnionFs::HandleFd(FileHandle& handle) {
  const Inode& node = *handle.node_;
  uint32_t now = node.data_gen.load(std::memory_order_acquire);
  if (handle.gen_.load(std::memory_order_acquire) == now) {
    return handle.fd_.load(std::memory_order_relaxed);
  }
  std::lock_guard lock(handle.mu_);
  now = node.data_gen.load(std::memory_order_acquire);
  if (handle.gen_.load(std::memory_order_relaxed) == now) {
    return handle.fd_.load(std::memory_order_relaxed);
  }
  // The Placement read after the generation is at least as new (Moved sets it first).
  STRATA_ASSIGN_OR_RETURN(UniqueFd fd, StablePlaced(node, [&] {
                            return OpenReal(node.Place()->DataPlace(), handle.flags_);
                          }));
  handle.fd_.store(fd.Get(), std::memory_order_relaxed);
  handle.fds_.push_back(std::move(fd));
  handle.gen_.store(now, std::memory_order_release);
  return handle.fd_.load(std::memory_order_relaxed);
}

Result<size_t> UnionFs::FlushCachedWrite(FileHandle& handle,
                                         const std::function<Result<size_t>(int fd)>& write) {
  std::lock_guard lock(handle.node_->op_mu);
  STRATA_ASSIGN_OR_RETURN(int fd, HandleFd(handle));
  struct stat before;
  const bool known = ::fstat(fd, &before) == 0;
  STRATA_ASSIGN_OR_RETURN(size_t n, write(fd));
  // The data is written: failing to keep the time costs only a newer mtime, never the write.
  const struct timespec times[2] = {{0, UTIME_OMIT}, before.st_mtim};
  if (known && ::futimens(fd, times) != 0) {
    STRATA_LOG(kDebug) << "writeback flush: keeping the mtime: " << std::strerror(errno);
  }
  return n;
}

Result<std::vector<DirEntry>> UnionFs::ReadDir(InodeId id) {
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  if (!node->IsDir()) return Fail(ENOTDIR);
  std::shared_lock names(node->dir->names_mu);
  return ListDir(*node);
}

Result<std::vector<DirEntry>> UnionFs::ListDir(const Inode& dir) {
  auto reals = dir.Reals();
  auto place = dir.Place();
  // Only an impure upper directory holds entries whose st_ino is not their real one.
  bool impure = false;
  if (upper_ && (*reals)[0].layer == 0) {
    STRATA_ASSIGN_OR_RETURN(FdLease up, (*reals)[0].fd.Open());
    impure = IsImpure(up->Get());
  }
  MergeInput input{reals.get(), dir.st_ino, place->parent ? place->parent->st_ino : dir.st_ino,
                   impure ? std::string_view(upper_->xattr_prefix()) : std::string_view()};
  STRATA_ASSIGN_OR_RETURN(std::vector<DirEntry> entries, MergeDirectory(input, layers_));
  if (Overrides()) {
    // A regular file may stand for a device, FIFO or symlink (override_stat.h): d_type says
    // what stat says.
    for (size_t i = 2; i < entries.size(); ++i) {
      DirEntry& e = entries[i];
      if (e.d_type != DT_REG) continue;
      STRATA_ASSIGN_OR_RETURN(FdLease dir, (*reals)[e.real_index].fd.Open());
      auto o =
          ReadOverrideStat(ProcFdPath(dir->Get(), e.name), Follow::kNo, config_.override_xattr);
      if (o && (o->mode & S_IFMT)) e.d_type = static_cast<uint8_t>(IFTODT(o->mode));
    }
  }
  return entries;
}

Result<UnionFs::RealRef> UnionFs::RefOf(const Inode& node) {
  const auto place = node.IsDir() ? nullptr : node.Place();  // holds at.path
  STRATA_ASSIGN_OR_RETURN(RealAt at, place ? place->At() : (*node.Reals())[0].At());
  return RealRef{at.Proc(), at.Self() ? Follow::kYes : Follow::kNo, std::move(at.keep)};
}

Result<std::string> UnionFs::GetXattr(InodeId id, const std::string& name) {
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  if (!config_.xattrs) return Fail(ENOTSUP);
  if (Hidden(name)) return Fail(ENODATA);
  return StablePlaced(*node, [&]() -> Result<std::string> {
    STRATA_ASSIGN_OR_RETURN(const RealRef ref, RefOf(*node));
    return ReadXattr(ref.path, name.c_str(), ref.follow);
  });
}

Result<std::string> UnionFs::ListXattr(InodeId id) {
  STRATA_ASSIGN_OR_RETURN(auto node, Resolve(id));
  if (!config_.xattrs) return Fail(ENOTSUP);
  STRATA_ASSIGN_OR_RETURN(std::string names, StablePlaced(*node, [&]() -> Result<std::string> {
                            STRATA_ASSIGN_OR_RETURN(const RealRef ref, RefOf(*node));
                            return ListXattrs(ref.path, ref.follow);
                          }));
  std::string visible;
  size_t pos = 0;
  while (pos < names.size()) {
    std::string_view item(names.data() + pos);
    pos += item.size() + 1;
    if (Hidden(item)) continue;
    visible.append(item);
    visible.push_back('\0');
  }
  return visible;
}

}  // namespace strata::core
