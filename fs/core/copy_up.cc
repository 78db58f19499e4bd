#include "fs/core/copy_up.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <vector>

#include "fs/base/unique_fd.h"
#include "fs/core/layer_format.h"

namespace strata::core {
namespace {

// Plain read/write of [off, end) for filesystems where copy_file_range fails.
Status CopyRange(int in, int out, off_t off, off_t end) {
  std::vector<char> buf(1 << 20);
  while (off < end) {
    const size_t want = static_cast<size_t>(std::min<off_t>(end - off, off_t(buf.size())));
    const ssize_t n = ::pread(in, buf.data(), want, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno("copy-up read");
    }
    if (n == 0) break;  // the source shrank: layers are immutable, but do not loop forever
    ssize_t done = 0;
    while (done < n) {
      const ssize_t w = ::pwrite(out, buf.data() + done, static_cast<size_t>(n - done), off + done);
      if (w < 0) {
        if (errno == EINTR) continue;
        return FailErrno("copy-up write");
      }
      done += w;
    }
    off += n;
  }
  return Ok();
}

Status CopyExtent(int in, int out, off_t off, off_t end, bool* use_cfr) {
  while (*use_cfr && off < end) {
    loff_t in_off = off, out_off = off;
    const ssize_t n =
        ::copy_file_range(in, &in_off, out, &out_off, static_cast<size_t>(end - off), 0);
    if (n > 0) {
      off += n;
      continue;
    }
    if (n == 0) return Ok();
    if (errno == EINTR) continue;
    if (errno != EXDEV && errno != EINVAL && errno != EOPNOTSUPP && errno != ENOSYS) {
      return FailErrno("copy-up copy_file_range");
    }
    *use_cfr = false;
  }
  return CopyRange(in, out, off, end);
}

bool Skippable(int err, const CopyOptions& options) {
  return err == ENOTSUP || (options.unprivileged && (err == EPERM || err == EACCES));
}

// Owner before mode (chown clears setuid/setgid), both before xattrs (chown drops
// security.capability); times last.
Status ApplyMetadata(int src_dirfd, const std::string& src_name, const struct stat& st, int work_fd,
                     const std::string& tmp, const CopyOptions& options) {
  if (::fchownat(work_fd, tmp.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) != 0 &&
      !Skippable(errno, options)) {
    return FailErrno("copy-up chown");
  }
  if (!S_ISLNK(st.st_mode) && ::fchmodat(work_fd, tmp.c_str(), st.st_mode & 07777, 0) != 0) {
    return FailErrno("copy-up chmod");
  }
  STRATA_RETURN_IF_ERROR(
      CopyXattrs(ProcFdPath(src_dirfd, src_name), ProcFdPath(work_fd, tmp), Follow::kNo, options));
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::utimensat(work_fd, tmp.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return FailErrno("copy-up times");
  }
  return Ok();
}

}  // namespace

Status CopyFileData(int in, int out, off_t size) {
  if (size == 0) return Ok();
  if (::ioctl(out, FICLONE, in) == 0) return Ok();
  // The destination's size first, so trailing holes survive.
  if (::ftruncate(out, size) != 0) return FailErrno("copy-up truncate");
  bool use_cfr = true;
  off_t off = 0;
  while (off < size) {
    off_t data = ::lseek(in, off, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole is left
      // No SEEK_DATA support: the whole rest is data.
      return CopyExtent(in, out, off, size, &use_cfr);
    }
    off_t hole = ::lseek(in, data, SEEK_HOLE);
    if (hole < 0 || hole > size) hole = size;
    STRATA_RETURN_IF_ERROR(CopyExtent(in, out, data, hole, &use_cfr));
    off = hole;
  }
  return Ok();
}

Status CopyXattrs(const std::string& src, const std::string& dst, Follow follow,
                  const CopyOptions& options) {
  STRATA_ASSIGN_OR_RETURN(std::string names, ListXattrs(src, follow));
  size_t pos = 0;
  while (pos < names.size()) {
    const std::string name(names.data() + pos);
    pos += name.size() + 1;
    if (IsPrivateXattr(name)) continue;
    auto value = ReadXattr(src, name.c_str(), follow);
    if (!value) {
      if (value.error().code == ENODATA) continue;
      return Unexpected{value.error()};
    }
    const int rc = follow == Follow::kYes
                       ? ::setxattr(dst.c_str(), name.c_str(), value->data(), value->size(), 0)
                       : ::lsetxattr(dst.c_str(), name.c_str(), value->data(), value->size(), 0);
    if (rc != 0 && !Skippable(errno, options)) return FailErrno("copy-up xattr " + name);
  }
  return Ok();
}

Status CopyObject(int src_dirfd, const std::string& src_name, const struct stat& st, int work_fd,
                  const std::string& tmp, const CopyOptions& options, int data_fd) {
  const mode_t type = st.st_mode & S_IFMT;
  Status made = Ok();
  if (S_ISREG(st.st_mode)) {
    UniqueFd in;
    if (data_fd < 0 && !options.metadata_only) {
      in = UniqueFd(::openat(src_dirfd, src_name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!in) return FailErrno("copy-up open source");
      data_fd = in.Get();
    }
    UniqueFd out(::openat(work_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out) return FailErrno("copy-up create");
    if (options.metadata_only) {
      if (::ftruncate(out.Get(), st.st_size) != 0) made = FailErrno("copy-up truncate");
    } else {
      made = CopyFileData(data_fd, out.Get(), st.st_size);
      if (made && options.fsync && ::fsync(out.Get()) != 0) made = FailErrno("copy-up fsync");
    }
  } else if (S_ISDIR(st.st_mode)) {
    if (::mkdirat(work_fd, tmp.c_str(), 0700) != 0) return FailErrno("copy-up mkdir");
  } else if (S_ISLNK(st.st_mode)) {
    std::string target(PATH_MAX, '\0');
    const ssize_t n = ::readlinkat(src_dirfd, src_name.c_str(), target.data(), target.size());
    if (n < 0) return FailErrno("copy-up readlink");
    target.resize(static_cast<size_t>(n));
    if (::symlinkat(target.c_str(), work_fd, tmp.c_str()) != 0) return FailErrno("copy-up symlink");
  } else {
    if (::mknodat(work_fd, tmp.c_str(), type | 0600, st.st_rdev) != 0) {
      return FailErrno("copy-up mknod");
    }
  }
  if (made) made = ApplyMetadata(src_dirfd, src_name, st, work_fd, tmp, options);
  if (!made) ::unlinkat(work_fd, tmp.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0);
  return made;
}

}  // namespace strata::core
