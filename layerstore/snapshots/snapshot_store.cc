#include "layerstore/snapshots/snapshot_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>

#include "fs/base/unique_fd.h"
#include "layerstore/store.h"

namespace strata::store {
namespace {

using Json = nlohmann::json;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status WriteAtomic(const std::string& dir, const std::string& name, const std::string& data) {
  const std::string tmp = dir + "/." + name + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return FailErrno("create " + tmp);
  if (::write(fd.Get(), data.data(), data.size()) != static_cast<ssize_t>(data.size()) ||
      ::fsync(fd.Get()) != 0) {
    return FailErrno("write " + tmp);
  }
  if (::rename(tmp.c_str(), (dir + "/" + name).c_str()) != 0) return FailErrno("rename " + tmp);
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d || ::fsync(d.Get()) != 0) return FailErrno("fsync " + dir);
  return Ok();
}

// Blocks in use and inodes under DIR (not following symlinks, not crossing mounts).
void Measure(int dirfd, dev_t dev, SnapshotUsage* usage) {
  DIR* d = ::fdopendir(dirfd);
  if (!d) {
    ::close(dirfd);
    return;
  }
  while (struct dirent* de = ::readdir(d)) {
    const std::string name = de->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    if (::fstatat(::dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    usage->size += static_cast<int64_t>(st.st_blocks) * 512;
    ++usage->inodes;
    if (S_ISDIR(st.st_mode) && st.st_dev == dev) {
      const int sub =
          ::openat(::dirfd(d), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) Measure(sub, dev, usage);
    }
  }
  ::closedir(d);
}

}  // namespace

Result<std::unique_ptr<SnapshotStore>> SnapshotStore::Open(const std::string& root,
                                                           std::string stratafs_type) {
  std::unique_ptr<SnapshotStore> s(new SnapshotStore());
  s->root_ = root;
  s->stratafs_type_ = std::move(stratafs_type);
  for (const std::string& dir : {root, root + "/snapshots"}) {
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return FailErrno("mkdir " + dir);
  }
  const std::string path = root + "/metadata.json";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return s;
    return FailErrno(path);
  }
  std::string text;
  char buf[65536];
  for (ssize_t n; (n = ::read(fd.Get(), buf, sizeof buf)) > 0;)
    text.append(buf, static_cast<size_t>(n));
  const Json j = Json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("snapshots") || !j["snapshots"].is_array()) {
    return Fail(EINVAL, path + ": not snapshot metadata");
  }
  s->next_id_ = j.value("next_id", uint64_t{1});
  for (const Json& e : j["snapshots"]) {
    if (!e.is_object()) return Fail(EINVAL, path + ": bad entry");
    SnapshotInfo info;
    info.name = e.value("name", "");
    info.parent = e.value("parent", "");
    const int kind = e.value("kind", 0);
    if (info.name.empty() || kind < 1 || kind > 3) return Fail(EINVAL, path + ": bad entry");
    info.kind = static_cast<SnapshotKind>(kind);
    info.created_ns = e.value("created_ns", int64_t{0});
    info.updated_ns = e.value("updated_ns", int64_t{0});
    info.id = e.value("id", uint64_t{0});
    info.external = e.value("external", "");
    const Json labels = e.value("labels", Json::object());  // items() must not outlive it
    for (const auto& [k, v] : labels.items()) {
      if (v.is_string()) info.labels[k] = v.get<std::string>();
    }
    s->snapshots_[info.name] = std::move(info);
  }
  return s;
}

Status SnapshotStore::Save() {
  Json list = Json::array();
  for (const auto& [name, info] : snapshots_) {
    Json e = {{"name", info.name},
              {"parent", info.parent},
              {"kind", static_cast<int>(info.kind)},
              {"labels", info.labels},
              {"created_ns", info.created_ns},
              {"updated_ns", info.updated_ns},
              {"id", info.id}};
    if (!info.external.empty()) e["external"] = info.external;
    list.push_back(e);
  }
  const Json j = {{"next_id", next_id_}, {"snapshots", list}};
  return WriteAtomic(root_, "metadata.json", j.dump(1) + "\n");
}

std::string SnapshotStore::Dir(uint64_t id) const {
  return root_ + "/snapshots/" + std::to_string(id);
}

std::vector<std::string> SnapshotStore::Chain(const std::string& name) const {
  std::vector<std::string> dirs;
  for (auto it = snapshots_.find(name); it != snapshots_.end();
       it = snapshots_.find(it->second.parent)) {
    const SnapshotInfo& s = it->second;
    dirs.push_back(s.external.empty() ? Dir(s.id) + "/fs" : s.external);
    if (s.parent.empty()) break;
  }
  return dirs;
}

std::vector<SnapshotMount> SnapshotStore::MountsOf(const SnapshotInfo& info) const {
  const std::vector<std::string> lowers =
      info.parent.empty() ? std::vector<std::string>{} : Chain(info.parent);
  auto lowerdir = [&] {
    std::string opt = "lowerdir=";
    for (size_t i = 0; i < lowers.size(); ++i) opt += (i ? ":" : "") + lowers[i];
    return opt;
  };
  const std::string fs = Dir(info.id) + "/fs";
  if (info.kind == SnapshotKind::kView) {
    if (lowers.empty()) return {{"bind", fs, {"ro", "rbind"}}};
    if (lowers.size() == 1) return {{"bind", lowers[0], {"ro", "rbind"}}};
    return {{stratafs_type_, "overlay", {lowerdir()}}};
  }
  if (lowers.empty()) return {{"bind", fs, {"rw", "rbind"}}};
  return {{stratafs_type_,
           "overlay",
           {lowerdir(), "upperdir=" + fs, "workdir=" + Dir(info.id) + "/work"}}};
}

Result<SnapshotInfo> SnapshotStore::NewInfo(
    const std::string& name, const std::string& parent, SnapshotKind kind,
    const std::map<std::string, std::string>& labels) const {
  if (snapshots_.contains(name)) return Fail(EEXIST, "snapshot " + name + ": already exists");
  if (!parent.empty()) {
    auto p = snapshots_.find(parent);
    if (p == snapshots_.end()) return Fail(ENOENT, "parent snapshot " + parent + " does not exist");
    if (p->second.kind != SnapshotKind::kCommitted) {
      return Fail(EINVAL, "parent snapshot " + parent + " is not committed");
    }
  }
  SnapshotInfo info;
  info.name = name;
  info.parent = parent;
  info.kind = kind;
  info.labels = labels;
  info.created_ns = info.updated_ns = NowNs();
  return info;
}

Result<std::vector<SnapshotMount>> SnapshotStore::Prepare(
    const std::string& key, const std::string& parent,
    const std::map<std::string, std::string>& labels, bool view) {
  std::lock_guard lock(mu_);
  if (key.empty()) return Fail(EINVAL, "snapshot key is empty");
  STRATA_ASSIGN_OR_RETURN(
      SnapshotInfo info,
      NewInfo(key, parent, view ? SnapshotKind::kView : SnapshotKind::kActive, labels));
  info.id = next_id_++;
  const std::string dir = Dir(info.id);
  for (const std::string& d : {dir, dir + "/fs", dir + "/work"}) {
    if (::mkdir(d.c_str(), 0755) != 0) {
      (void)RemoveAll(dir);
      return FailErrno("mkdir " + d);
    }
  }
  snapshots_[key] = info;
  if (Status s = Save(); !s) {
    snapshots_.erase(key);
    (void)RemoveAll(dir);
    return Unexpected{s.error()};
  }
  return MountsOf(info);
}

Status SnapshotStore::AddExternal(const std::string& name, const std::string& parent,
                                  const std::string& dir,
                                  const std::map<std::string, std::string>& labels) {
  std::lock_guard lock(mu_);
  if (name.empty() || dir.empty()) return Fail(EINVAL, "snapshot name or directory is empty");
  STRATA_ASSIGN_OR_RETURN(SnapshotInfo info,
                          NewInfo(name, parent, SnapshotKind::kCommitted, labels));
  info.external = dir;
  snapshots_[name] = info;
  if (Status s = Save(); !s) {
    snapshots_.erase(name);
    return s;
  }
  return Ok();
}

Result<std::vector<SnapshotMount>> SnapshotStore::Mounts(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = snapshots_.find(key);
  if (it == snapshots_.end()) return Fail(ENOENT, "snapshot " + key + " does not exist");
  if (it->second.kind == SnapshotKind::kCommitted) {
    return Fail(EBUSY, "snapshot " + key + " is committed: it has no mounts");
  }
  return MountsOf(it->second);
}

Status SnapshotStore::Commit(const std::string& name, const std::string& key,
                             const std::map<std::string, std::string>& labels) {
  std::lock_guard lock(mu_);
  auto it = snapshots_.find(key);
  if (it == snapshots_.end()) return Fail(ENOENT, "snapshot " + key + " does not exist");
  if (it->second.kind != SnapshotKind::kActive) {
    return Fail(EBUSY, "snapshot " + key + " is not active");
  }
  if (snapshots_.contains(name)) return Fail(EEXIST, "snapshot " + name + ": already exists");
  SnapshotInfo info = it->second;
  info.name = name;
  info.kind = SnapshotKind::kCommitted;
  if (!labels.empty()) info.labels = labels;
  info.updated_ns = NowNs();
  const SnapshotInfo old = it->second;
  snapshots_.erase(it);
  snapshots_[name] = info;
  if (Status s = Save(); !s) {
    snapshots_.erase(name);
    snapshots_[key] = old;
    return s;
  }
  // Its workdir is no longer needed (a committed snapshot is only ever a lower layer).
  (void)RemoveAll(Dir(info.id) + "/work");
  return Ok();
}

Status SnapshotStore::Remove(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = snapshots_.find(key);
  if (it == snapshots_.end()) return Fail(ENOENT, "snapshot " + key + " does not exist");
  for (const auto& [name, info] : snapshots_) {
    if (info.parent == key) {
      return Fail(EBUSY, "snapshot " + key + " has a child (" + name + "): remove it first");
    }
  }
  const SnapshotInfo old = it->second;
  snapshots_.erase(it);
  if (Status s = Save(); !s) {
    snapshots_[key] = old;
    return s;
  }
  if (old.external.empty()) (void)RemoveAll(Dir(old.id));  // Cleanup finishes what fails here
  return Ok();
}

Result<SnapshotInfo> SnapshotStore::Stat(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = snapshots_.find(key);
  if (it == snapshots_.end()) return Fail(ENOENT, "snapshot " + key + " does not exist");
  return it->second;
}

Result<SnapshotInfo> SnapshotStore::Update(const SnapshotInfo& info,
                                           const std::vector<std::string>& fields) {
  std::lock_guard lock(mu_);
  auto it = snapshots_.find(info.name);
  if (it == snapshots_.end()) return Fail(ENOENT, "snapshot " + info.name + " does not exist");
  const SnapshotInfo old = it->second;
  SnapshotInfo& s = it->second;
  if (fields.empty()) {
    s.labels = info.labels;
  } else {
    for (const std::string& f : fields) {
      if (f == "labels") {
        s.labels = info.labels;
      } else if (f.starts_with("labels.")) {
        const std::string key = f.substr(7);
        auto v = info.labels.find(key);
        if (v == info.labels.end()) {
          s.labels.erase(key);
        } else {
          s.labels[key] = v->second;
        }
      } else {
        return Fail(EINVAL, "cannot update " + f + " of snapshot " + info.name);
      }
    }
  }
  s.updated_ns = NowNs();
  if (Status saved = Save(); !saved) {
    s = old;
    return Unexpected{saved.error()};
  }
  return s;
}

std::vector<SnapshotInfo> SnapshotStore::List() const {
  std::lock_guard lock(mu_);
  std::vector<SnapshotInfo> out;
  for (const auto& [name, info] : snapshots_) out.push_back(info);
  return out;
}

Result<SnapshotUsage> SnapshotStore::Usage(const std::string& key) const {
  std::string dir;
  {
    std::lock_guard lock(mu_);
    auto it = snapshots_.find(key);
    if (it == snapshots_.end()) return Fail(ENOENT, "snapshot " + key + " does not exist");
    dir = it->second.external.empty() ? Dir(it->second.id) + "/fs" : it->second.external;
  }
  SnapshotUsage usage;
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return FailErrno(dir);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return FailErrno(dir);
  }
  Measure(fd, st.st_dev, &usage);
  return usage;
}

Result<size_t> SnapshotStore::Cleanup() {
  std::lock_guard lock(mu_);
  std::set<std::string> owned;
  for (const auto& [name, info] : snapshots_) {
    if (info.external.empty()) owned.insert(std::to_string(info.id));
  }
  size_t removed = 0;
  const std::string dir = root_ + "/snapshots";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return FailErrno(dir);
  std::vector<std::string> stale;
  while (struct dirent* de = ::readdir(d)) {
    const std::string name = de->d_name;
    if (name != "." && name != ".." && !owned.contains(name)) stale.push_back(name);
  }
  ::closedir(d);
  for (const std::string& name : stale) {
    if (RemoveAll(dir + "/" + name)) ++removed;
  }
  return removed;
}

std::vector<std::string> SnapshotStore::ExternalDirs() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, info] : snapshots_) {
    if (!info.external.empty()) out.push_back(info.external);
  }
  return out;
}

}  // namespace strata::store
