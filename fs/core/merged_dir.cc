// UnionFs: which real directories a merged directory is made of (SPEC.md section 3).
//
// Layers are walked top-down from the topmost real directory found by the lookup. In each lower
// layer the directory is looked up by its name in the parent's real directory of that layer,
// or, once a redirect was found, where the redirect says: an absolute one from the layer's
// root, a relative one as another name in the same place. Redirects, opaque markers and
// whiteouts are honoured in every layer the same way (kernel overlayfs with redirect_dir=on),
// so an upper layer later stacked as a lower one shows the same tree. A whiteout or a
// non-directory ends the merge; an opaque directory ends it after its own layer.
#include <fcntl.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "fs/core/layer_format.h"
#include "fs/core/union_fs.h"

namespace strata::core {
namespace {

// What a layer holds where the merged directory's lower part is looked for.
enum class Probe { kDir, kAbsent, kStop };

// Looks NAME up in real directory DIRFD: a directory (opened into *FD; *LAST if a ".wh.NAME"
// beside it hides the layers below), nothing there and no whiteout of it, or something that
// ends the merge (a whiteout, a non-directory).
Result<Probe> ProbeDir(int dirfd, const std::string& name, UniqueFd* fd, bool* last) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno != ENOENT) return FailErrno("lookup");
    STRATA_ASSIGN_OR_RETURN(bool whited, HasOciWhiteout(dirfd, name));
    return whited ? Probe::kStop : Probe::kAbsent;
  }
  if (!S_ISDIR(st.st_mode)) return Probe::kStop;
  *fd = UniqueFd(::openat(dirfd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!*fd) return FailErrno("open layer directory");
  STRATA_ASSIGN_OR_RETURN(bool whited, HasOciWhiteout(dirfd, name));
  if (whited) *last = true;
  return Probe::kDir;
}

// PATH from ROOT (a layer's root): as ProbeDir for its last component; a missing component is
// kAbsent (the layer is skipped), and an opaque directory on the way sets *LAST.
Result<Probe> ProbeFromRoot(int root, const std::vector<std::string>& path, UniqueFd* fd,
                            bool* last) {
  UniqueFd dir(::openat(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return FailErrno("lookup redirect");
  for (size_t i = 0; i < path.size(); ++i) {
    UniqueFd next;
    bool hidden_below = false;
    STRATA_ASSIGN_OR_RETURN(Probe probe, ProbeDir(dir.Get(), path[i], &next, &hidden_below));
    if (probe != Probe::kDir) return probe;
    if (hidden_below) *last = true;
    if (i + 1 == path.size()) {
      *fd = std::move(next);
      return Probe::kDir;
    }
    STRATA_ASSIGN_OR_RETURN(DirMarks marks, ReadDirMarks(next.Get()));
    if (marks.opaque) *last = true;
    dir = std::move(next);
  }
  return Probe::kAbsent;
}

// The components of absolute path PATH; false if one is "." or "..", which no valid redirect
// holds.
bool SplitPath(const std::string& path, std::vector<std::string>* parts) {
  parts->clear();
  for (size_t pos = 1; pos <= path.size();) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    std::string part = path.substr(pos, slash - pos);
    if (part == "." || part == "..") return false;
    if (!part.empty()) parts->push_back(std::move(part));
    pos = slash + 1;
  }
  return true;
}

// Where the next layer is searched: NAME in the parent's real directory of that layer, or
// PATH from the layer's root.
struct Cursor {
  bool from_root = false;
  std::string name;
  std::vector<std::string> path;

  // Follows REDIRECT (an overlay.redirect value). False if it is unusable: the merge ends.
  bool Follow(const std::string& redirect) {
    if (redirect.empty()) return false;
    if (redirect[0] == '/') {
      from_root = SplitPath(redirect, &path) && !path.empty();
      return from_root;
    }
    if (redirect.find('/') != std::string::npos || redirect == "." || redirect == "..") {
      return false;
    }
    (from_root ? path.back() : name) = redirect;
    return true;
  }
};

}  // namespace

DirReal MakeDirReal(int layer, DirFd fd, const DirMarks& marks, bool upper) {
  DirReal real{layer, std::move(fd), marks.xattr_whiteouts, {}};
  if (!upper) real.kept_ino_prefix = marks.impure_prefix;
  return real;
}

Status UnionFs::CompleteDir(const RealDirs& parent_reals, const std::string& name,
                            const DirMarks& top_marks, RealDirs* reals) {
  if (top_marks.opaque) return Ok();
  Cursor cursor;
  cursor.name = name;
  if (!top_marks.redirect.empty() && !cursor.Follow(top_marks.redirect)) return Ok();
  size_t parent_index = 0;
  for (size_t layer = static_cast<size_t>(reals->back().layer) + 1; layer < layers_.size();
       ++layer) {
    UniqueFd fd;
    std::string path;  // of the directory beneath the layer root
    bool last = false;
    Probe probe;
    if (!cursor.from_root) {
      // The parent's real directories end where it stops merging (an opaque one, the bottom).
      while (parent_index < parent_reals.size() &&
             static_cast<size_t>(parent_reals[parent_index].layer) < layer) {
        ++parent_index;
      }
      if (parent_index == parent_reals.size()) return Ok();
      const DirReal& parent = parent_reals[parent_index];
      if (static_cast<size_t>(parent.layer) != layer) continue;
      STRATA_ASSIGN_OR_RETURN(FdLease parent_fd, parent.fd.Open());
      STRATA_ASSIGN_OR_RETURN(probe, ProbeDir(parent_fd->Get(), cursor.name, &fd, &last));
      path = JoinBeneath(parent.fd.path(), cursor.name);
    } else {
      STRATA_ASSIGN_OR_RETURN(probe,
                              ProbeFromRoot(layers_[layer].root.Get(), cursor.path, &fd, &last));
      for (const std::string& part : cursor.path) path = JoinBeneath(path, part);
    }
    if (probe == Probe::kStop) return Ok();
    if (probe == Probe::kDir) {
      STRATA_ASSIGN_OR_RETURN(DirMarks marks, ReadDirMarks(fd.Get()));
      reals->push_back(MakeDirReal(
          static_cast<int>(layer),
          LowerDirFd(static_cast<int>(layer), std::move(fd), std::move(path)), marks, false));
      if (marks.opaque) return Ok();
      if (!marks.redirect.empty() && !cursor.Follow(marks.redirect)) return Ok();
    }
    if (last) return Ok();
  }
  return Ok();
}

}  // namespace strata::core
