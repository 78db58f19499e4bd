#include "fs/core/dir_merge.h"

#include <dirent.h>
#include <fcntl.h>

#include <memory>
#include <string>
#include <unordered_set>

#include "fs/core/layer_format.h"

namespace strata::core {
namespace {

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};
using DirPtr = std::unique_ptr<DIR, DirCloser>;

}  // namespace

Result<std::vector<DirEntry>> MergeDirectory(const MergeInput& dir, const LayerStack& layers) {
  std::vector<DirEntry> out;
  out.push_back(DirEntry{".", dir.self_ino, DT_DIR});
  out.push_back(DirEntry{"..", dir.parent_ino, DT_DIR});
  const RealDirs& reals = *dir.reals;

  // Names already listed or whited out by a layer above: hidden in every lower layer.
  std::unordered_set<std::string> hidden;
  // ".wh.NAME" files hide NAME in lower layers only, not in their own layer, so they take
  // effect once the layer is done.
  std::vector<std::string> pending;

  for (size_t index = dir.first; index < reals.size(); ++index) {
    const DirReal& real = reals[index];
    // Entries may keep their st_ino in an impure upper directory, or in a lower layer that
    // was once an upper one (as NodeFor reads them, so d_ino stays st_ino).
    const bool upper = real.layer == 0 && !dir.ino_prefix.empty();
    const std::string_view prefix = upper ? dir.ino_prefix : real.kept_ino_prefix;
    STRATA_ASSIGN_OR_RETURN(FdLease dir_fd, real.fd.Open());
    UniqueFd fd(::openat(dir_fd->Get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return FailErrno("open layer directory");
    DirPtr stream(::fdopendir(fd.Get()));
    if (!stream) return FailErrno("fdopendir");
    fd.Release();
    const int dfd = ::dirfd(stream.get());
    for (;;) {
      errno = 0;
      const struct dirent* de = ::readdir(stream.get());
      if (de == nullptr) {
        if (errno != 0) return FailErrno("read layer directory");
        break;
      }
      const std::string_view name = de->d_name;
      if (name == "." || name == "..") continue;
      if (HasWhiteoutPrefix(name)) {
        if (name != kOpaqueMarker && name.size() > kWhiteoutPrefix.size()) {
          pending.emplace_back(name.substr(kWhiteoutPrefix.size()));
        }
        continue;
      }
      std::string key(name);
      if (hidden.contains(key)) continue;
      uint8_t type = de->d_type;
      if (type == DT_CHR || type == DT_UNKNOWN || (type == DT_REG && real.xattr_whiteouts)) {
        struct stat st;
        if (::fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
          if (errno == ENOENT) continue;  // vanished while listing
          return FailErrno("stat layer entry");
        }
        if (IsDeviceWhiteout(st) || (real.xattr_whiteouts && IsXattrWhiteout(dfd, name, st))) {
          hidden.insert(std::move(key));
          continue;
        }
        type = IFTODT(st.st_mode);
      }
      uint64_t ino = 0;
      if (!prefix.empty()) {
        ino = upper || type == DT_DIR ? ReadStoredIno(dfd, name, prefix)
                                      : ReadLowerKeptIno(dfd, name, prefix);
      }
      if (ino == 0) ino = layers.MapIno(real.layer, de->d_ino);
      out.push_back(DirEntry{key, ino, type, static_cast<uint32_t>(index)});
      hidden.insert(std::move(key));
    }
    for (std::string& name : pending) hidden.insert(std::move(name));
    pending.clear();
  }
  return out;
}

}  // namespace strata::core
