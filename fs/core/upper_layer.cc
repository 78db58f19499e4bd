#include "fs/core/upper_layer.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "fs/core/layer_format.h"

namespace strata::core {
namespace {

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

Result<std::string> RealPath(const std::string& path, const std::string& what) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return FailErrno(what + " '" + path + "'");
  return std::string(buf);
}

// True if A is B or lies beneath it.
bool Within(const std::string& a, const std::string& b) {
  if (b == "/") return true;
  return a == b || (a.size() > b.size() && a.compare(0, b.size(), b) == 0 && a[b.size()] == '/');
}

// Removes everything inside directory DIRFD (not following symlinks).
Status EmptyDirectory(int dirfd) {
  UniqueFd fd(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return FailErrno("open work directory");
  std::unique_ptr<DIR, DirCloser> dir(::fdopendir(fd.Get()));
  if (!dir) return FailErrno("fdopendir");
  fd.Release();
  for (;;) {
    errno = 0;
    const struct dirent* de = ::readdir(dir.get());
    if (de == nullptr) break;
    const std::string name = de->d_name;
    if (name == "." || name == "..") continue;
    if (::unlinkat(::dirfd(dir.get()), name.c_str(), 0) == 0) continue;
    if (errno != EISDIR && errno != EPERM) return FailErrno("clean work entry '" + name + "'");
    UniqueFd sub(::openat(::dirfd(dir.get()), name.c_str(),
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) return FailErrno("clean work entry '" + name + "'");
    STRATA_RETURN_IF_ERROR(EmptyDirectory(sub.Get()));
    if (::unlinkat(::dirfd(dir.get()), name.c_str(), AT_REMOVEDIR) != 0) {
      return FailErrno("clean work entry '" + name + "'");
    }
  }
  return Ok();
}

}  // namespace

Result<std::unique_ptr<UpperLayer>> UpperLayer::Open(const UpperConfig& config,
                                                     const std::vector<std::string>& lowerdirs) {
  std::unique_ptr<UpperLayer> upper(new UpperLayer());
  upper->config_ = config;
  STRATA_ASSIGN_OR_RETURN(std::string up, RealPath(config.upperdir, "upperdir"));
  STRATA_ASSIGN_OR_RETURN(std::string work, RealPath(config.workdir, "workdir"));
  struct stat ust, wst;
  if (::stat(up.c_str(), &ust) != 0) return FailErrno("upperdir '" + config.upperdir + "'");
  if (::stat(work.c_str(), &wst) != 0) return FailErrno("workdir '" + config.workdir + "'");
  if (!S_ISDIR(ust.st_mode)) return Fail(ENOTDIR, "upperdir '" + config.upperdir + "'");
  if (!S_ISDIR(wst.st_mode)) return Fail(ENOTDIR, "workdir '" + config.workdir + "'");
  if (ust.st_dev != wst.st_dev) {
    return Fail(EXDEV, "workdir '" + config.workdir + "' and upperdir '" + config.upperdir +
                           "' must be on the same filesystem");
  }
  if (Within(up, work) || Within(work, up)) {
    return Fail(EINVAL, "upperdir '" + config.upperdir + "' and workdir '" + config.workdir +
                            "' must not contain each other");
  }
  for (const std::string& lower : lowerdirs) {
    STRATA_ASSIGN_OR_RETURN(std::string low, RealPath(lower, "lowerdir"));
    for (const auto& [path, what] : {std::pair{up, "upperdir"}, std::pair{work, "workdir"}}) {
      if (Within(path, low) || Within(low, path)) {
        return Fail(EINVAL, std::string(what) + " '" + path + "' overlaps lowerdir '" + low + "'");
      }
    }
  }

  upper->lock_ = UniqueFd(::open(work.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!upper->lock_) return FailErrno("workdir '" + config.workdir + "'");
  if (::flock(upper->lock_.Get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Fail(EBUSY, "workdir '" + config.workdir + "' is in use by another stratafs mount");
    }
    return FailErrno("lock workdir '" + config.workdir + "'");
  }
  // A workdir holds only what overlay filesystems put there.
  {
    UniqueFd fd(::open(work.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    std::unique_ptr<DIR, DirCloser> dir(fd ? ::fdopendir(fd.Get()) : nullptr);
    if (!dir) return FailErrno("workdir '" + config.workdir + "'");
    fd.Release();
    while (const struct dirent* de = ::readdir(dir.get())) {
      const std::string name = de->d_name;
      if (name == "." || name == ".." || name == "work" || name == "index" || name == "incompat" ||
          name == "strata-index") {
        continue;
      }
      return Fail(ENOTEMPTY, "workdir '" + config.workdir + "' is not empty: it holds '" + name +
                                 "' (use an empty directory next to upperdir)");
    }
  }
  if (::mkdirat(upper->lock_.Get(), "work", 0700) != 0 && errno != EEXIST) {
    return FailErrno("create '" + work + "/work'");
  }
  upper->work_ =
      UniqueFd(::openat(upper->lock_.Get(), "work", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!upper->work_) return FailErrno("open '" + work + "/work'");
  if (::mkdirat(upper->lock_.Get(), "strata-index", 0700) != 0 && errno != EEXIST) {
    return FailErrno("create '" + work + "/strata-index'");
  }
  upper->index_ = UniqueFd(
      ::openat(upper->lock_.Get(), "strata-index", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!upper->index_) return FailErrno("open '" + work + "/strata-index'");
  // Leftovers of a daemon that was killed mid-operation: never visible, now garbage.
  STRATA_RETURN_IF_ERROR(EmptyDirectory(upper->work_.Get()));
  STRATA_RETURN_IF_ERROR(upper->Probe());
  return upper;
}

Status UpperLayer::Probe() {
  const std::string probe = TempName();
  UniqueFd fd(::openat(work_.Get(), probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return FailErrno("workdir '" + config_.workdir + "' is not writable");
  fd.Reset();
  const std::string path = ProcFdPath(work_.Get(), probe);
  bool trusted = !config_.userxattr &&
                 ::lsetxattr(path.c_str(), "trusted.overlay.strata.probe", "y", 1, 0) == 0;
  if (!trusted && ::lsetxattr(path.c_str(), "user.overlay.strata.probe", "y", 1, 0) != 0) {
    const int err = errno;
    ::unlinkat(work_.Get(), probe.c_str(), 0);
    return Fail(err == EPERM ? ENOTSUP : err,
                "upperdir '" + config_.upperdir +
                    "': its filesystem must support extended attributes (user.* or trusted.*)");
  }
  ::unlinkat(work_.Get(), probe.c_str(), 0);
  const bool device = !config_.oci_whiteouts &&
                      ::mknodat(work_.Get(), probe.c_str(), S_IFCHR | 0600, makedev(0, 0)) == 0;
  if (device) ::unlinkat(work_.Get(), probe.c_str(), 0);
  device_whiteouts_ = device;
  prefix_ = trusted ? "trusted.overlay." : "user.overlay.";
  return Ok();
}

std::string UpperLayer::TempName() {
  // Formatted in place: `"#" + std::to_string(n)` draws a false -Wrestrict from GCC 12 at -O3.
  char name[24];
  const int n = std::snprintf(name, sizeof name, "#%llu",
                              static_cast<unsigned long long>(next_temp_.fetch_add(1)));
  return std::string(name, static_cast<size_t>(n));
}

}  // namespace strata::core

namespace strata::core {

Status UpperLayer::Discard(const std::string& tmp) {
  if (::unlinkat(work_.Get(), tmp.c_str(), 0) == 0 || errno == ENOENT) return Ok();
  if (errno != EISDIR && errno != EPERM) return FailErrno("discard work entry");
  UniqueFd dir(::openat(work_.Get(), tmp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) return FailErrno("discard work entry");
  STRATA_RETURN_IF_ERROR(EmptyDirectory(dir.Get()));
  if (::unlinkat(work_.Get(), tmp.c_str(), AT_REMOVEDIR) != 0)
    return FailErrno("discard work entry");
  return Ok();
}

}  // namespace strata::core
