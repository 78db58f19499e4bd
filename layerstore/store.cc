#include "layerstore/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

namespace strata::store {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxRecordBytes = 4 << 20;

Status MkdirP(const std::string& path) {
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    const std::string part = path.substr(0, pos);
    if (part.empty()) continue;
    if (::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) return FailErrno("mkdir " + part);
  }
  return Ok();
}

// Only this user may change what the store at ROOT holds: ROOT must be its directory, not
// writable by group or others, and the store's own entries in it real directories and files
// of this user (never symlinks another user could have planted). Else a clear error.
Status CheckOwnership(const std::string& root) {
  struct stat st;
  if (::stat(root.c_str(), &st) != 0) return FailErrno("store " + root);
  if (!S_ISDIR(st.st_mode)) return Fail(ENOTDIR, "store " + root + " is not a directory");
  if (st.st_uid != ::geteuid()) {
    return Fail(EPERM, "store " + root + " belongs to uid " + std::to_string(st.st_uid) +
                           ", not to this user (uid " + std::to_string(::geteuid()) +
                           "): refusing to use it");
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    return Fail(EPERM, "store " + root + " is writable by group or others (mode " + mode +
                           "): refusing to use it (chmod go-w it)");
  }
  for (const char* entry : {"blobs", "layers", "images", "containers", "tmp", "holds", "lock"}) {
    const std::string path = root + "/" + entry;
    if (::lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) continue;
      return FailErrno("store " + path);
    }
    const bool want_dir = std::string(entry) != "lock";
    if ((want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) || st.st_uid != ::geteuid()) {
      return Fail(EPERM, "store " + path + " is not a " + (want_dir ? "directory" : "file") +
                             " of this user: refusing to use the store");
    }
  }
  return Ok();
}

Result<std::string> ReadSmallFile(const std::string& path, size_t cap) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return FailErrno(path);
  struct stat st;
  if (::fstat(fd.Get(), &st) != 0) return FailErrno(path);
  if (!S_ISREG(st.st_mode)) return Fail(EINVAL, path + ": not a regular file");
  if (static_cast<uint64_t>(st.st_size) > cap) {
    return Fail(EFBIG, path + ": larger than " + std::to_string(cap) + " bytes");
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::read(fd.Get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return FailErrno(path);
    done += static_cast<size_t>(n);
  }
  return data;
}

Status FsyncDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd || ::fsync(fd.Get()) != 0) return FailErrno("fsync " + dir);
  return Ok();
}

std::string DirOf(const std::string& path) { return path.substr(0, path.rfind('/')); }

Result<Json> ParseRecord(const std::string& path) {
  STRATA_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, kMaxRecordBytes));
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Fail(EINVAL, path + ": corrupt record");
  return j;
}

Result<Digest> DigestField(const Json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_string()) return Fail(EINVAL, std::string("missing ") + key);
  return ParseDigest(j[key].get<std::string>());
}

std::vector<std::string> ListDir(const std::string& path) {
  std::vector<std::string> names;
  DIR* d = ::opendir(path.c_str());
  if (!d) return names;
  while (struct dirent* de = ::readdir(d)) {
    std::string n = de->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  return names;
}

}  // namespace

Status RemoveAll(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT ? Ok() : FailErrno("stat " + path);
  if (S_ISDIR(st.st_mode)) {
    // Directories of a layer may be read-only: make them writable before emptying them.
    ::chmod(path.c_str(), 0700);
    for (const std::string& name : ListDir(path))
      STRATA_RETURN_IF_ERROR(RemoveAll(path + "/" + name));
    if (::rmdir(path.c_str()) != 0) return FailErrno("rmdir " + path);
  } else if (::unlink(path.c_str()) != 0) {
    return FailErrno("unlink " + path);
  }
  return Ok();
}

Result<Store> Store::Open(const std::string& root, Lock lock) {
  STRATA_RETURN_IF_ERROR(MkdirP(root));
  STRATA_RETURN_IF_ERROR(CheckOwnership(root));
  for (const char* sub : {"blobs/sha256", "layers", "images", "containers", "tmp"}) {
    STRATA_RETURN_IF_ERROR(MkdirP(root + "/" + sub));
  }
  UniqueFd fd(::open((root + "/lock").c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return FailErrno("open " + root + "/lock");
  if (::flock(fd.Get(), lock == Lock::kShared ? LOCK_SH : LOCK_EX) != 0) {
    return FailErrno("lock " + root);
  }
  return Store(root, std::move(fd));
}

Status Store::WriteFileAtomic(const std::string& path, const std::string& data) const {
  // Written under tmp/ (the same filesystem) and renamed into place: a process killed
  // meanwhile leaves garbage only there, never a stray file among blobs or records.
  const std::string tmp = root_ + "/tmp/" + path.substr(path.rfind('/') + 1) + ".tmp-" +
                          std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return FailErrno("create " + tmp);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd.Get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::unlink(tmp.c_str());
      return FailErrno("write " + tmp);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.Get()) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return FailErrno("publish " + path);
  }
  return FsyncDir(DirOf(path));
}

std::string Store::LayerDir(const Digest& diff_id) const {
  return root_ + "/layers/" + diff_id.encoded + "/diff";
}

std::string Store::LayerBlobPath(const Digest& diff_id) const {
  return root_ + "/layers/" + diff_id.encoded + "/blob";
}

bool Store::HasBlob(const Digest& digest) const {
  return ::access((root_ + "/blobs/sha256/" + digest.encoded).c_str(), F_OK) == 0;
}

Status Store::PutBlob(const Digest& digest, const std::string& data) {
  if (digest.algorithm != "sha256" || !(Sha256Of(data) == digest)) {
    return Fail(EINVAL, "blob does not match " + digest.String());
  }
  if (HasBlob(digest)) return Ok();
  return WriteFileAtomic(root_ + "/blobs/sha256/" + digest.encoded, data);
}

Result<std::string> Store::GetBlob(const Digest& digest) const {
  return ReadSmallFile(root_ + "/blobs/sha256/" + digest.encoded, kMaxRecordBytes);
}

bool Store::HasLayer(const Digest& diff_id) const {
  return ::access((root_ + "/layers/" + diff_id.encoded + "/layer.json").c_str(), F_OK) == 0;
}

Result<std::string> Store::MakeWorkDir() {
  std::string tmpl = root_ + "/tmp/work-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return FailErrno("mkdtemp");
  if (::mkdir((tmpl + "/diff").c_str(), 0755) != 0) return FailErrno("mkdir");
  return tmpl;
}

Status Store::PublishLayer(const std::string& work, const LayerRecord& r) {
  Json j = {{"diff_id", r.diff_id.String()},
            {"blob_digest", r.blob_digest.String()},
            {"compression", r.compression},
            {"blob_size", r.blob_size},
            {"tar_size", r.tar_size}};
  if (r.tree_digest) j["tree_digest"] = r.tree_digest->String();
  STRATA_RETURN_IF_ERROR(WriteFileAtomic(work + "/layer.json", j.dump(2) + "\n"));
  // The extracted files reach the disk before the directory becomes visible.
  {
    UniqueFd fd(::open(work.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd || ::syncfs(fd.Get()) != 0) return FailErrno("sync " + work);
  }
  const std::string final = root_ + "/layers/" + r.diff_id.encoded;
  if (::rename(work.c_str(), final.c_str()) != 0) {
    if (errno == EEXIST || errno == ENOTEMPTY) return RemoveAll(work);  // a concurrent import won
    return FailErrno("publish layer " + r.diff_id.String());
  }
  return FsyncDir(root_ + "/layers");
}

Result<LayerRecord> Store::GetLayer(const Digest& diff_id) const {
  STRATA_ASSIGN_OR_RETURN(Json j,
                          ParseRecord(root_ + "/layers/" + diff_id.encoded + "/layer.json"));
  LayerRecord r;
  STRATA_ASSIGN_OR_RETURN(r.diff_id, DigestField(j, "diff_id"));
  STRATA_ASSIGN_OR_RETURN(r.blob_digest, DigestField(j, "blob_digest"));
  r.compression = j.value("compression", "");
  r.blob_size = j.value("blob_size", uint64_t{0});
  r.tar_size = j.value("tar_size", uint64_t{0});
  if (j.contains("tree_digest")) {
    STRATA_ASSIGN_OR_RETURN(Digest tree, DigestField(j, "tree_digest"));
    r.tree_digest = tree;
  }
  return r;
}

namespace {
// Serialises read-modify-write of names.json and of image records between processes that
// share the store lock.
class NamesLock {
 public:
  explicit NamesLock(const std::string& root)
      : fd_(::open((root + "/names.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    if (fd_) ::flock(fd_.Get(), LOCK_EX);
  }

 private:
  UniqueFd fd_;
};
}  // namespace

Status Store::PutImage(const ImageRecord& image) {
  NamesLock guard(root_);
  std::vector<RepoDigest> repo_digests;
  if (auto stored = GetImage(image.id)) repo_digests = stored->repo_digests;
  for (const RepoDigest& r : image.repo_digests) {
    if (std::find(repo_digests.begin(), repo_digests.end(), r) == repo_digests.end()) {
      repo_digests.push_back(r);
    }
  }
  Json layers = Json::array(), chains = Json::array(), repos = Json::array();
  for (const Digest& d : image.diff_ids) layers.push_back(d.String());
  for (const Digest& d : image.chain_ids) chains.push_back(d.String());
  for (const RepoDigest& r : repo_digests) repos.push_back(r.String());
  Json j = {{"id", image.id.String()},  {"manifest_digest", image.manifest_digest.String()},
            {"diff_ids", layers},       {"chain_ids", chains},
            {"os", image.os},           {"architecture", image.architecture},
            {"variant", image.variant}, {"created", image.created},
            {"repo_digests", repos}};
  return WriteFileAtomic(root_ + "/images/" + image.id.encoded + ".json", j.dump(2) + "\n");
}

Result<ImageRecord> Store::GetImage(const Digest& id) const {
  STRATA_ASSIGN_OR_RETURN(Json j, ParseRecord(root_ + "/images/" + id.encoded + ".json"));
  ImageRecord r;
  STRATA_ASSIGN_OR_RETURN(r.id, DigestField(j, "id"));
  STRATA_ASSIGN_OR_RETURN(r.manifest_digest, DigestField(j, "manifest_digest"));
  for (const auto& [key, out] : {std::pair{"diff_ids", &r.diff_ids}, {"chain_ids", &r.chain_ids}}) {
    if (!j.contains(key) || !j[key].is_array())
      return Fail(EINVAL, "image record: no " + std::string(key));
    for (const Json& d : j[key]) {
      if (!d.is_string()) return Fail(EINVAL, "image record: bad digest");
      STRATA_ASSIGN_OR_RETURN(Digest parsed, ParseDigest(d.get<std::string>()));
      out->push_back(parsed);
    }
  }
  r.os = j.value("os", "");
  r.architecture = j.value("architecture", "");
  r.variant = j.value("variant", "");
  r.created = j.value("created", "");
  for (const Json& rd : j.value("repo_digests", Json::array())) {
    const std::string text = rd.is_string() ? rd.get<std::string>() : "";
    const size_t at = text.rfind('@');
    if (at == std::string::npos) return Fail(EINVAL, "image record: bad repo digest");
    STRATA_ASSIGN_OR_RETURN(Digest manifest, ParseDigest(text.substr(at + 1)));
    r.repo_digests.push_back({text.substr(0, at), manifest});
  }
  return r;
}

Result<std::vector<ImageRecord>> Store::ListImages() const {
  std::vector<ImageRecord> out;
  for (const std::string& name : ListDir(root_ + "/images")) {
    if (!name.ends_with(".json") || name.size() != 64 + 5) continue;
    auto id = ParseDigest("sha256:" + name.substr(0, 64));
    if (!id) continue;
    STRATA_ASSIGN_OR_RETURN(ImageRecord r, GetImage(*id));
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::vector<std::pair<std::string, Digest>>> Store::ListNames() const {
  std::vector<std::pair<std::string, Digest>> out;
  if (::access((root_ + "/names.json").c_str(), F_OK) != 0) return out;
  STRATA_ASSIGN_OR_RETURN(Json j, ParseRecord(root_ + "/names.json"));
  for (const auto& [name, id] : j.items()) {
    if (!id.is_string()) return Fail(EINVAL, "names.json: bad entry " + name);
    STRATA_ASSIGN_OR_RETURN(Digest d, ParseDigest(id.get<std::string>()));
    out.emplace_back(name, d);
  }
  return out;
}

Status Store::SetName(const std::string& name, const Digest& id) {
  NamesLock guard(root_);
  STRATA_ASSIGN_OR_RETURN(auto names, ListNames());
  Json j = Json::object();
  for (const auto& [n, d] : names) j[n] = d.String();
  j[name] = id.String();
  return WriteFileAtomic(root_ + "/names.json", j.dump(2) + "\n");
}

Status Store::RemoveName(const std::string& name) {
  NamesLock guard(root_);
  STRATA_ASSIGN_OR_RETURN(auto names, ListNames());
  Json j = Json::object();
  bool found = false;
  for (const auto& [n, d] : names) {
    if (n == name) {
      found = true;
    } else {
      j[n] = d.String();
    }
  }
  if (!found) return Fail(ENOENT, "no image named " + name);
  return WriteFileAtomic(root_ + "/names.json", j.dump(2) + "\n");
}

Status Store::RemoveImage(const Digest& id) {
  STRATA_ASSIGN_OR_RETURN(auto containers, ListContainers());
  for (const ContainerRecord& c : containers) {
    if (c.image == id) {
      return Fail(EBUSY, "image " + id.String() + " is used by container '" + c.name +
                             "' (strata container rm " + c.name + ")");
    }
  }
  NamesLock guard(root_);
  STRATA_ASSIGN_OR_RETURN(auto names, ListNames());
  Json j = Json::object();
  for (const auto& [n, d] : names) {
    if (!(d == id)) j[n] = d.String();
  }
  STRATA_RETURN_IF_ERROR(WriteFileAtomic(root_ + "/names.json", j.dump(2) + "\n"));
  const std::string path = root_ + "/images/" + id.encoded + ".json";
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return FailErrno("unlink " + path);
  return Ok();
}

Status Store::SetHold(const std::string& name, const std::vector<Digest>& diff_ids) {
  if (name.empty() ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789_.-") != std::string::npos ||
      name[0] == '.') {
    return Fail(EINVAL, "hold name '" + name + "'");
  }
  const std::string dir = root_ + "/holds";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return FailErrno("mkdir " + dir);
  const std::string path = dir + "/" + name + ".json";
  if (diff_ids.empty()) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return FailErrno("unlink " + path);
    return Ok();
  }
  Json layers = Json::array();
  for (const Digest& d : diff_ids) layers.push_back(d.String());
  return WriteFileAtomic(path, Json{{"layers", layers}}.dump(2) + "\n");
}

std::map<std::string, std::vector<Digest>> Store::Holds() const {
  std::map<std::string, std::vector<Digest>> out;
  for (const std::string& file : ListDir(root_ + "/holds")) {
    if (!file.ends_with(".json")) continue;
    auto hold = ParseRecord(root_ + "/holds/" + file);
    if (!hold) continue;
    std::vector<Digest>& layers = out[file.substr(0, file.size() - 5)];
    for (const Json& d : hold->value("layers", Json::array())) {
      if (!d.is_string()) continue;
      if (auto digest = ParseDigest(d.get<std::string>())) layers.push_back(*digest);
    }
  }
  return out;
}

Status Store::AddBlobLocation(const std::vector<Digest>& blobs, const std::string& repository) {
  NamesLock guard(root_);
  Json j = Json::object();
  if (::access((root_ + "/locations.json").c_str(), F_OK) == 0) {
    STRATA_ASSIGN_OR_RETURN(j, ParseRecord(root_ + "/locations.json"));
    if (!j.is_object()) j = Json::object();
  }
  for (const Digest& d : blobs) {
    Json list = Json::array({repository});
    for (const Json& r : j.value(d.String(), Json::array())) {
      if (r.is_string() && r != repository && list.size() < 8) list.push_back(r);
    }
    j[d.String()] = list;
  }
  return WriteFileAtomic(root_ + "/locations.json", j.dump(2) + "\n");
}

std::vector<std::string> Store::BlobLocations(const Digest& blob) const {
  std::vector<std::string> out;
  auto j = ParseRecord(root_ + "/locations.json");
  if (!j || !j->is_object()) return out;
  for (const Json& r : j->value(blob.String(), Json::array())) {
    if (r.is_string()) out.push_back(r);
  }
  return out;
}

Result<std::vector<std::string>> Store::CollectGarbage() {
  std::vector<std::string> removed;
  // Containers keep their images (RemoveImage refuses to remove those), so the images'
  // layers are all that must stay.
  STRATA_ASSIGN_OR_RETURN(auto images, ListImages());
  std::set<std::string> live_layers, live_blobs;
  for (const ImageRecord& image : images) {
    live_blobs.insert(image.id.encoded);
    live_blobs.insert(image.manifest_digest.encoded);
    for (const RepoDigest& r : image.repo_digests) live_blobs.insert(r.manifest.encoded);
    for (const Digest& d : image.diff_ids) live_layers.insert(d.encoded);
  }
  for (const auto& [name, layers] : Holds()) {
    for (const Digest& d : layers) live_layers.insert(d.encoded);
  }
  for (const std::string& name : ListDir(root_ + "/layers")) {
    if (live_layers.contains(name)) continue;
    STRATA_RETURN_IF_ERROR(RemoveAll(root_ + "/layers/" + name));
    removed.push_back("layer sha256:" + name);
  }
  for (const std::string& name : ListDir(root_ + "/blobs/sha256")) {
    if (live_blobs.contains(name)) continue;
    STRATA_RETURN_IF_ERROR(RemoveAll(root_ + "/blobs/sha256/" + name));
    removed.push_back("blob sha256:" + name);
  }
  for (const std::string& name : ListDir(root_ + "/tmp")) {
    STRATA_RETURN_IF_ERROR(RemoveAll(root_ + "/tmp/" + name));
    removed.push_back("work directory " + name);
  }
  // Locations of blobs no longer kept (configs and layer blobs of live images stay).
  if (auto j = ParseRecord(root_ + "/locations.json"); j && j->is_object()) {
    std::set<std::string> kept = live_blobs;
    for (const std::string& layer : live_layers) {
      if (auto record = GetLayer(Digest{"sha256", layer})) kept.insert(record->blob_digest.encoded);
    }
    Json pruned = Json::object();
    for (const auto& [digest, list] : j->items()) {
      if (digest.size() > 7 && kept.contains(digest.substr(7))) pruned[digest] = list;
    }
    STRATA_RETURN_IF_ERROR(WriteFileAtomic(root_ + "/locations.json", pruned.dump(2) + "\n"));
  }
  return removed;
}

namespace {

bool ValidContainerName(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-'))) return false;
  }
  return true;
}

}  // namespace

Result<ContainerRecord> Store::EnsureContainer(const std::string& name, const Digest& image) {
  if (!ValidContainerName(name)) {
    return Fail(EINVAL, "container name '" + name + "': use letters, digits, '_', '.', '-'");
  }
  const std::string dir = root_ + "/containers/" + name;
  ContainerRecord record{name, image, dir + "/diff", dir + "/work"};
  const std::string json = dir + "/container.json";
  if (::access(json.c_str(), F_OK) == 0) {
    STRATA_ASSIGN_OR_RETURN(Json j, ParseRecord(json));
    STRATA_ASSIGN_OR_RETURN(Digest made_from, DigestField(j, "image"));
    if (!(made_from == image)) {
      return Fail(EEXIST, "container '" + name + "' was made from image " + made_from.String());
    }
    return record;
  }
  // Built under tmp/ and renamed into place: a container is whole or absent.
  STRATA_ASSIGN_OR_RETURN(std::string work, MakeWorkDir());
  ::rmdir((work + "/diff").c_str());
  for (const char* sub : {"/diff", "/work"}) {
    if (::mkdir((work + sub).c_str(), 0755) != 0) return FailErrno("mkdir " + work + sub);
  }
  Json j = {{"name", name}, {"image", image.String()}};
  STRATA_RETURN_IF_ERROR(WriteFileAtomic(work + "/container.json", j.dump(2) + "\n"));
  if (::rename(work.c_str(), dir.c_str()) != 0) {
    const int err = errno;
    (void)RemoveAll(work);
    if (err == EEXIST || err == ENOTEMPTY) return EnsureContainer(name, image);  // a race
    return Fail(err, "create container " + dir);
  }
  return record;
}

Result<std::vector<ContainerRecord>> Store::ListContainers() const {
  std::vector<ContainerRecord> out;
  for (const std::string& name : ListDir(root_ + "/containers")) {
    const std::string dir = root_ + "/containers/" + name;
    STRATA_ASSIGN_OR_RETURN(Json j, ParseRecord(dir + "/container.json"));
    STRATA_ASSIGN_OR_RETURN(Digest image, DigestField(j, "image"));
    out.push_back(ContainerRecord{name, image, dir + "/diff", dir + "/work"});
  }
  return out;
}

Status Store::RemoveContainer(const std::string& name) {
  if (!ValidContainerName(name)) return Fail(EINVAL, "container name '" + name + "'");
  const std::string dir = root_ + "/containers/" + name;
  if (::access(dir.c_str(), F_OK) != 0) return Fail(ENOENT, "no container '" + name + "'");
  // A mounted container's stratafs holds an flock on its workdir.
  UniqueFd work(::open((dir + "/work").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (work && ::flock(work.Get(), LOCK_EX | LOCK_NB) != 0) {
    return Fail(EBUSY, "container '" + name + "' is mounted");
  }
  // Out of the namespace first (atomic), then deleted.
  STRATA_ASSIGN_OR_RETURN(std::string trash, MakeWorkDir());
  if (::rename(dir.c_str(), (trash + "/container").c_str()) != 0) {
    return FailErrno("remove container " + dir);
  }
  return RemoveAll(trash);
}

}  // namespace strata::store
