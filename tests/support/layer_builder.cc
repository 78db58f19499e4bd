#include "tests/support/layer_builder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "fs/base/unique_fd.h"

namespace strata::testing {
namespace {

void Check(bool ok, const std::string& what, const std::string& path) {
  if (!ok) throw std::runtime_error(what + " " + path + ": " + std::strerror(errno));
}

std::string DirName(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? "" : rel.substr(0, slash);
}

std::string BaseName(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

void WriteAll(int fd, const std::string& data, off_t offset, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, offset + done);
    Check(n > 0, "write", path);
    done += static_cast<size_t>(n);
  }
}

}  // namespace

const char* EncodingName(Encoding enc) {
  switch (enc) {
    case Encoding::kKernel:
      return "Kernel";
    case Encoding::kOci:
      return "Oci";
    case Encoding::kUserXattr:
      return "UserXattr";
    case Encoding::kFuseOverlayfs:
      return "FuseOverlayfsXattr";
    case Encoding::kXattrWhiteout:
      return "XattrWhiteout";
  }
  return "Unknown";
}

LayerBuilder::LayerBuilder(std::string root) : root_(std::move(root)) {
  if (::mkdir(root_.c_str(), 0755) != 0 && errno != EEXIST) Check(false, "mkdir", root_);
}

void LayerBuilder::Parents(const std::string& rel) {
  std::string dir = DirName(rel);
  if (dir.empty()) return;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    std::string part = Path(dir.substr(0, pos));
    if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) Check(false, "mkdir", part);
  }
}

LayerBuilder& LayerBuilder::Dir(const std::string& rel, mode_t mode) {
  Parents(rel);
  const std::string p = Path(rel);
  if (::mkdir(p.c_str(), mode) != 0) {
    Check(errno == EEXIST, "mkdir", p);
  } else {
    Check(::chmod(p.c_str(), mode) == 0, "chmod", p);  // beat the umask
  }
  return *this;
}

LayerBuilder& LayerBuilder::File(const std::string& rel, const std::string& content, mode_t mode) {
  Parents(rel);
  const std::string p = Path(rel);
  UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode));
  Check(fd.Valid(), "create", p);
  WriteAll(fd.Get(), content, 0, p);
  Check(::fchmod(fd.Get(), mode) == 0, "chmod", p);
  return *this;
}

LayerBuilder& LayerBuilder::SparseFile(const std::string& rel, off_t size, off_t offset,
                                       const std::string& data) {
  Parents(rel);
  const std::string p = Path(rel);
  UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
  Check(fd.Valid(), "create", p);
  Check(::ftruncate(fd.Get(), size) == 0, "truncate", p);
  WriteAll(fd.Get(), data, offset, p);
  return *this;
}

LayerBuilder& LayerBuilder::Symlink(const std::string& rel, const std::string& target) {
  Parents(rel);
  Check(::symlink(target.c_str(), Path(rel).c_str()) == 0, "symlink", Path(rel));
  return *this;
}

LayerBuilder& LayerBuilder::Hardlink(const std::string& rel, const std::string& existing_rel) {
  Parents(rel);
  Check(::link(Path(existing_rel).c_str(), Path(rel).c_str()) == 0, "link", Path(rel));
  return *this;
}

LayerBuilder& LayerBuilder::Fifo(const std::string& rel) {
  Parents(rel);
  Check(::mkfifo(Path(rel).c_str(), 0644) == 0, "mkfifo", Path(rel));
  return *this;
}

LayerBuilder& LayerBuilder::CharDev(const std::string& rel, unsigned major, unsigned minor) {
  Parents(rel);
  Check(::mknod(Path(rel).c_str(), S_IFCHR | 0644, makedev(major, minor)) == 0, "mknod", Path(rel));
  return *this;
}

LayerBuilder& LayerBuilder::Whiteout(const std::string& rel, Encoding enc) {
  switch (enc) {
    case Encoding::kOci: {
      const std::string dir = DirName(rel);
      return File((dir.empty() ? "" : dir + "/") + ".wh." + BaseName(rel));
    }
    case Encoding::kXattrWhiteout: {
      const std::string dir = DirName(rel);
      if (!dir.empty()) Dir(dir);
      Xattr(dir.empty() ? "." : dir, "trusted.overlay.opaque", "x");
      File(rel);
      return Xattr(rel, "trusted.overlay.whiteout", "y");
    }
    default:
      return CharDev(rel, 0, 0);
  }
}

LayerBuilder& LayerBuilder::Opaque(const std::string& rel, Encoding enc) {
  Dir(rel);
  switch (enc) {
    case Encoding::kOci:
      return File(rel + "/.wh..wh..opq");
    case Encoding::kUserXattr:
      return Xattr(rel, "user.overlay.opaque", "y");
    case Encoding::kFuseOverlayfs:
      return Xattr(rel, "user.fuseoverlayfs.opaque", "y");
    default:
      return Xattr(rel, "trusted.overlay.opaque", "y");
  }
}

LayerBuilder& LayerBuilder::Xattr(const std::string& rel, const std::string& name,
                                  const std::string& value) {
  const std::string p = rel == "." ? root_ : Path(rel);
  Check(::lsetxattr(p.c_str(), name.c_str(), value.data(), value.size(), 0) == 0,
        "setxattr " + name, p);
  return *this;
}

LayerBuilder& LayerBuilder::Chown(const std::string& rel, uid_t uid, gid_t gid) {
  Check(::lchown(Path(rel).c_str(), uid, gid) == 0, "chown", Path(rel));
  return *this;
}

LayerBuilder& LayerBuilder::Chmod(const std::string& rel, mode_t mode) {
  Check(::fchmodat(AT_FDCWD, Path(rel).c_str(), mode, 0) == 0, "chmod", Path(rel));
  return *this;
}

LayerBuilder& LayerBuilder::Mtime(const std::string& rel, time_t sec, long nsec) {
  struct timespec ts[2] = {{0, UTIME_OMIT}, {sec, nsec}};
  Check(::utimensat(AT_FDCWD, Path(rel).c_str(), ts, AT_SYMLINK_NOFOLLOW) == 0, "utimens",
        Path(rel));
  return *this;
}

}  // namespace strata::testing
