#include "layerstore/export/container_diff.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>

#include "fs/core/layer_format.h"
#include "fs/core/union_fs.h"

namespace strata::store {
namespace {

using core::Entry;
using core::InodeId;
using core::UnionFs;

// A looked-up entry, forgotten when it goes out of scope.
class Held {
 public:
  Held(UnionFs& fs, Entry e) : fs_(&fs), e_(e) {}
  ~Held() {
    if (fs_) fs_->Forget(e_.id, 1);
  }
  Held(Held&& o) noexcept : fs_(o.fs_), e_(o.e_) { o.fs_ = nullptr; }
  Held(const Held&) = delete;
  Held& operator=(const Held&) = delete;
  const Entry& operator*() const { return e_; }
  const Entry* operator->() const { return &e_; }

 private:
  UnionFs* fs_;
  Entry e_;
};

Result<std::vector<std::string>> SortedNames(int dirfd) {
  const int dup = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup < 0) return FailErrno("open directory");
  DIR* d = ::fdopendir(dup);
  if (!d) {
    ::close(dup);
    return FailErrno("list directory");
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* de = ::readdir(d)) {
    const std::string_view name = de->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  const int err = errno;
  ::closedir(d);
  if (err != 0) return Fail(err, "list directory");
  std::sort(names.begin(), names.end());
  return names;
}

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

class DiffWriter {
 public:
  DiffWriter(UnionFs& fs, TarOut& out) : fs_(fs), out_(out) {}

  Status Run(int upper_root) {
    STRATA_ASSIGN_OR_RETURN(struct stat root, fs_.GetAttr(core::kRootId));
    STRATA_RETURN_IF_ERROR(Emit("", Entry{core::kRootId, root}));
    STRATA_RETURN_IF_ERROR(WalkUpper(upper_root, "", core::kRootId));
    return LinkOtherNames();
  }
  const DiffStats& stats() const { return stats_; }

 private:
  struct Links {
    std::string first;            // the path written with the data
    std::set<std::string> paths;  // every path written
    nlink_t nlink = 0;            // as the union shows it
  };

  Status Whiteout(const std::string& dir, std::string_view name) {
    TarEntry t;
    t.path = Join(dir, std::string(core::kWhiteoutPrefix) + std::string(name));
    t.st.st_mode = S_IFREG;
    ++stats_.entries;
    ++stats_.whiteouts;
    return out_.AddData(t, "");
  }
  Status Opaque(const std::string& dir) {
    TarEntry t;
    t.path = Join(dir, std::string(core::kOpaqueMarker));
    t.st.st_mode = S_IFREG;
    ++stats_.entries;
    ++stats_.whiteouts;
    return out_.AddData(t, "");
  }

  Result<std::vector<std::pair<std::string, std::string>>> Xattrs(InodeId id) {
    std::vector<std::pair<std::string, std::string>> out;
    auto names = fs_.ListXattr(id);
    if (!names) {
      if (names.error().code == ENOTSUP) return out;
      return Unexpected{names.error()};
    }
    for (size_t pos = 0; pos < names->size();) {
      const size_t end = names->find('\0', pos);
      const std::string name = names->substr(pos, end - pos);
      pos = end == std::string::npos ? names->size() : end + 1;
      if (name.empty()) continue;
      auto value = fs_.GetXattr(id, name);
      if (!value) {
        if (value.error().code == ENODATA) continue;  // removed meanwhile
        return Unexpected{value.error()};
      }
      out.emplace_back(name, *value);
    }
    return out;
  }

  // Writes the entry E shows at PATH ("" for the root), with its data.
  Status Emit(const std::string& path, const Entry& e) {
    auto done = [&]() -> Status {
      TarEntry t;
      t.path = path.empty() ? "./" : path;
      t.st = e.attr;
      STRATA_ASSIGN_OR_RETURN(t.xattrs, Xattrs(e.id));
      ++stats_.entries;
      if (S_ISDIR(e.attr.st_mode)) {
        dirs_.insert(path);
        return out_.Add(t);
      }
      if (e.attr.st_nlink > 1) {
        auto [it, fresh] = links_.try_emplace(e.attr.st_ino);
        Links& links = it->second;
        links.paths.insert(path);
        links.nlink = e.attr.st_nlink;
        if (!fresh) {
          t.hardlink = links.first;
          return out_.Add(t);
        }
        links.first = path;
      }
      if (S_ISLNK(e.attr.st_mode)) {
        STRATA_ASSIGN_OR_RETURN(t.symlink, fs_.ReadLink(e.id));
        return out_.Add(t);
      }
      if (!S_ISREG(e.attr.st_mode)) return out_.Add(t);
      STRATA_ASSIGN_OR_RETURN(auto handle, fs_.OpenFile(e.id, O_RDONLY));
      STRATA_ASSIGN_OR_RETURN(int fd, fs_.HandleFd(*handle));
      stats_.data_bytes += static_cast<uint64_t>(e.attr.st_size);
      return out_.AddFile(t, fd);
    }();
    if (!done) return Fail(done.error().code, "/" + path + ": " + done.error().context);
    return Ok();
  }

  // The upper directory open as DIRFD, merged directory ID, at PATH.
  Status WalkUpper(int dirfd, const std::string& path, InodeId id) {
    STRATA_ASSIGN_OR_RETURN(core::DirMarks marks, core::ReadDirMarks(dirfd));
    STRATA_ASSIGN_OR_RETURN(std::vector<std::string> names, SortedNames(dirfd));
    for (const std::string& name : names) {
      if (name == core::kOpaqueMarker) continue;  // ReadDirMarks saw it
      struct stat st;
      if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;
        return FailErrno("/" + Join(path, name));
      }
      if (core::IsDeviceWhiteout(st) ||
          (marks.xattr_whiteouts && core::IsXattrWhiteout(dirfd, name, st))) {
        STRATA_RETURN_IF_ERROR(Whiteout(path, name));
        continue;
      }
      if (core::HasWhiteoutPrefix(name)) {  // the ".wh.NAME" format of an unprivileged upper
        STRATA_RETURN_IF_ERROR(Whiteout(path, name.substr(core::kWhiteoutPrefix.size())));
        continue;
      }
      auto found = fs_.Lookup(id, name);
      if (!found) {
        if (found.error().code == ENOENT) continue;
        return Fail(found.error().code, "/" + Join(path, name) + ": " + found.error().context);
      }
      Held child(fs_, *found);
      const std::string child_path = Join(path, name);
      STRATA_RETURN_IF_ERROR(Emit(child_path, *child));
      if (!S_ISDIR(child->attr.st_mode) || !S_ISDIR(st.st_mode)) continue;
      UniqueFd sub(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) return FailErrno("/" + child_path);
      STRATA_ASSIGN_OR_RETURN(core::DirMarks sub_marks, core::ReadDirMarks(sub.Get()));
      if (!sub_marks.redirect.empty()) {
        STRATA_RETURN_IF_ERROR(Opaque(child_path));
        STRATA_RETURN_IF_ERROR(WalkMerged(child_path, child->id, nullptr));
      } else {
        if (sub_marks.opaque) STRATA_RETURN_IF_ERROR(Opaque(child_path));
        STRATA_RETURN_IF_ERROR(WalkUpper(sub.Get(), child_path, child->id));
      }
    }
    return Ok();
  }

  // A search for names of written files (LinkOtherNames): the directories on the way to the
  // current one that were not written yet, written before the first name found below them.
  struct Search {
    std::vector<std::pair<std::string, Entry>> ancestors;  // not yet written, outermost first
  };

  // Everything merged directory ID at PATH holds; with SEARCH, only the names of files written
  // elsewhere that were not written yet (as hard links), and their parents.
  Status WalkMerged(const std::string& path, InodeId id, Search* search) {
    STRATA_ASSIGN_OR_RETURN(std::vector<core::DirEntry> entries, fs_.ReadDir(id));
    for (const core::DirEntry& listed : entries) {
      if (listed.name == "." || listed.name == "..") continue;
      auto found = fs_.LookupListed(id, listed);
      if (!found) {
        if (found.error().code == ENOENT) continue;
        return Fail(found.error().code,
                    "/" + Join(path, listed.name) + ": " + found.error().context);
      }
      Held child(fs_, *found);
      const std::string child_path = Join(path, listed.name);
      const bool dir = S_ISDIR(child->attr.st_mode);
      if (!search) {
        STRATA_RETURN_IF_ERROR(Emit(child_path, *child));
        if (dir) STRATA_RETURN_IF_ERROR(WalkMerged(child_path, child->id, nullptr));
        continue;
      }
      if (dir) {
        const bool pending = !dirs_.contains(child_path);
        if (pending) search->ancestors.emplace_back(child_path, *child);
        STRATA_RETURN_IF_ERROR(WalkMerged(child_path, child->id, search));
        if (pending && !search->ancestors.empty() && search->ancestors.back().first == child_path) {
          search->ancestors.pop_back();
        }
        continue;
      }
      auto it = links_.find(child->attr.st_ino);
      if (it == links_.end() || it->second.paths.contains(child_path)) continue;
      for (const auto& [dir_path, dir_entry] : search->ancestors) {
        STRATA_RETURN_IF_ERROR(Emit(dir_path, dir_entry));
      }
      search->ancestors.clear();
      STRATA_RETURN_IF_ERROR(Emit(child_path, *child));
    }
    return Ok();
  }

  // Names of written files that were not written (a lower name showing an indexed copy, the
  // outside name of a file inside a renamed directory): the whole view is searched, only if
  // some written file shows more names than were written.
  Status LinkOtherNames() {
    const bool missing = std::any_of(links_.begin(), links_.end(), [](const auto& kv) {
      return kv.second.paths.size() < kv.second.nlink;
    });
    if (!missing) return Ok();
    Search search;
    return WalkMerged("", core::kRootId, &search);
  }

  UnionFs& fs_;
  TarOut& out_;
  DiffStats stats_;
  std::map<ino_t, Links> links_;
  std::set<std::string> dirs_;
};

}  // namespace

Result<DiffStats> WriteContainerDiff(const ContainerLayers& container, TarOut& out) {
  core::UnionConfig config;
  config.lowerdirs = container.lowerdirs;
  config.upperdir = container.upperdir;
  config.workdir = container.workdir;
  config.override_xattr = container.override_xattr;
  auto fs = UnionFs::Open(config);
  if (!fs) return Unexpected{fs.error()};
  UniqueFd upper(::open(container.upperdir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!upper) return FailErrno(container.upperdir);
  DiffWriter writer(**fs, out);
  STRATA_RETURN_IF_ERROR(writer.Run(upper.Get()));
  return writer.stats();
}

}  // namespace strata::store
