#include "layerstore/tree_digest.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "fs/base/unique_fd.h"

namespace strata::store {
namespace {

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

std::string ProcPath(int dirfd, const std::string& name) {
  return "/proc/self/fd/" + std::to_string(dirfd) + (name.empty() ? "" : "/" + name);
}

// "name=hexvalue;" for every xattr, sorted by name. FOLLOW: PATH is a /proc/self/fd/N magic
// link standing for the object itself.
Result<std::string> Xattrs(const std::string& path, bool follow) {
  auto list = follow ? ::listxattr : ::llistxattr;
  auto get = follow ? ::getxattr : ::lgetxattr;
  std::string names(256, '\0');
  ssize_t n;
  while ((n = list(path.c_str(), names.data(), names.size())) < 0 && errno == ERANGE) {
    names.resize(names.size() * 4);
  }
  if (n < 0) return errno == ENOTSUP ? Result<std::string>(std::string()) : FailErrno(path);
  std::vector<std::string> sorted;
  for (size_t pos = 0; pos < static_cast<size_t>(n);) {
    sorted.emplace_back(names.data() + pos);
    pos += sorted.back().size() + 1;
  }
  std::sort(sorted.begin(), sorted.end());
  std::string out;
  for (const std::string& name : sorted) {
    std::string value(256, '\0');
    ssize_t v;
    while ((v = get(path.c_str(), name.c_str(), value.data(), value.size())) < 0 &&
           errno == ERANGE) {
      value.resize(value.size() * 4);
    }
    if (v < 0) return FailErrno(path + " xattr " + name);
    out += name + "=";
    static const char* hex = "0123456789abcdef";
    for (ssize_t i = 0; i < v; ++i) {
      const auto c = static_cast<unsigned char>(value[static_cast<size_t>(i)]);
      out += hex[c >> 4];
      out += hex[c & 15];
    }
    out += ";";
  }
  return out;
}

class Walker {
 public:
  Status Entry(int dirfd, const std::string& name, const std::string& path) {
    struct stat st;
    if (::fstatat(dirfd, name.empty() ? "" : name.c_str(), &st,
                  AT_SYMLINK_NOFOLLOW | (name.empty() ? AT_EMPTY_PATH : 0)) != 0) {
      return FailErrno("stat " + path);
    }
    char meta[256];
    std::snprintf(meta, sizeof meta, "%o %o %u %u %lld %llu %llu %lld.%09ld", st.st_mode & S_IFMT,
                  st.st_mode & 07777, st.st_uid, st.st_gid, static_cast<long long>(st.st_size),
                  S_ISDIR(st.st_mode) ? 0ULL : static_cast<unsigned long long>(st.st_nlink),
                  static_cast<unsigned long long>(st.st_rdev),
                  static_cast<long long>(st.st_mtim.tv_sec), st.st_mtim.tv_nsec);
    sha_.Update(path);
    sha_.Update("\0", 1);
    sha_.Update(meta);
    sha_.Update("\0", 1);
    STRATA_ASSIGN_OR_RETURN(std::string xattrs, Xattrs(ProcPath(dirfd, name), name.empty()));
    sha_.Update(xattrs);
    sha_.Update("\0", 1);
    if (S_ISLNK(st.st_mode)) {
      std::string target(PATH_MAX, '\0');
      const ssize_t n = ::readlinkat(dirfd, name.c_str(), target.data(), target.size());
      if (n < 0) return FailErrno("readlink " + path);
      sha_.Update(target.data(), static_cast<size_t>(n));
    } else if (S_ISREG(st.st_mode)) {
      UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) return FailErrno("open " + path);
      STRATA_ASSIGN_OR_RETURN(Digest content, Sha256OfFd(fd.Get()));
      sha_.Update(content.encoded);
    } else if (S_ISDIR(st.st_mode)) {
      UniqueFd fd(name.empty() ? ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0)
                               : ::openat(dirfd, name.c_str(),
                                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) return FailErrno("open " + path);
      sha_.Update("\n", 1);
      return Children(std::move(fd), path);
    }
    sha_.Update("\n", 1);
    return Ok();
  }

  Digest Finish() { return sha_.Finish(); }

 private:
  Status Children(UniqueFd fd, const std::string& path) {
    UniqueFd listing(::openat(fd.Get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!listing) return FailErrno("open " + path);
    std::unique_ptr<DIR, DirCloser> dir(::fdopendir(listing.Get()));
    if (!dir) return FailErrno("list " + path);
    listing.Release();
    std::vector<std::string> names;
    errno = 0;
    while (const struct dirent* de = ::readdir(dir.get())) {
      const std::string n = de->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    if (errno != 0) return FailErrno("list " + path);
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) {
      STRATA_RETURN_IF_ERROR(Entry(fd.Get(), n, path == "/" ? "/" + n : path + "/" + n));
    }
    return Ok();
  }

  Sha256 sha_;
};

}  // namespace

Result<Digest> TreeDigest(int root_dirfd) {
  Walker walker;
  STRATA_RETURN_IF_ERROR(walker.Entry(root_dirfd, "", "/"));
  return walker.Finish();
}

}  // namespace strata::store
