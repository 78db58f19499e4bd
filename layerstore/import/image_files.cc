#include "layerstore/import/image_files.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <memory>

#include "layerstore/import/archive_error.h"
#include "layerstore/import/tar_path.h"

namespace strata::store {
namespace {

int Openat2(int dirfd, const std::string& rel, uint64_t flags, uint64_t mode, uint64_t resolve) {
  struct open_how how {};
  how.flags = flags;
  how.mode = mode;
  how.resolve = resolve;
  return static_cast<int>(::syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof how));
}

struct ArchiveFree {
  void operator()(struct archive* a) const { archive_read_free(a); }
};

}  // namespace

Result<UniqueFd> OpenBeneath(int dirfd, const std::string& rel) {
  UniqueFd fd(
      Openat2(dirfd, rel, O_RDONLY | O_CLOEXEC, 0, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS));
  if (!fd) {
    if (errno == EXDEV) return Fail(EXDEV, "'" + rel + "' resolves outside the image");
    return FailErrno("'" + rel + "'");
  }
  return fd;
}

Result<std::string> ReadCapped(int fd, size_t cap, const std::string& what) {
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno(what);
    if (n == 0) return data;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > cap)
      return Fail(EINVAL, what + ": larger than " + std::to_string(cap) + " bytes");
  }
}

Status UnpackArchive(const std::string& file, const std::string& dir) {
  std::unique_ptr<struct archive, ArchiveFree> a(archive_read_new());
  archive_read_support_filter_gzip(a.get());
  archive_read_support_filter_zstd(a.get());
  archive_read_support_filter_xz(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), file.c_str(), 1 << 16) != ARCHIVE_OK) {
    return Fail(EINVAL, file + ": " + ArchiveError(a.get()));
  }
  UniqueFd root(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return FailErrno(dir);
  for (;;) {
    struct archive_entry* e;
    int rc = archive_read_next_header(a.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) return Fail(EINVAL, file + ": " + ArchiveError(a.get()));
    const char* raw = archive_entry_pathname(e);
    const std::string shown = raw ? raw : "";
    auto parts = NormalizeTarPath(shown);
    if (!parts) return Fail(EINVAL, file + ": entry '" + shown + "': " + parts.error().context);
    if (parts->empty()) continue;
    // Walk to the parent one component at a time, never through a symlink (not even one this
    // archive made), creating missing directories.
    UniqueFd parent_fd(::fcntl(root.Get(), F_DUPFD_CLOEXEC, 0));
    std::string rel;
    for (size_t i = 0; i + 1 < parts->size(); ++i) {
      rel += (i ? "/" : "") + (*parts)[i];
      const char* name = (*parts)[i].c_str();
      UniqueFd next(::openat(parent_fd.Get(), name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next && errno == ENOENT) {
        if (::mkdirat(parent_fd.Get(), name, 0700) != 0) return FailErrno("mkdir " + rel);
        next.Reset(::openat(parent_fd.Get(), name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      }
      if (!next)
        return Fail(EINVAL,
                    file + ": entry '" + shown + "' goes through '" + rel + "', not a directory");
      parent_fd = std::move(next);
    }
    rel = rel.empty() ? parts->back() : rel + "/" + parts->back();
    switch (archive_entry_filetype(e)) {
      case AE_IFDIR:
        if (::mkdirat(parent_fd.Get(), parts->back().c_str(), 0700) != 0 && errno != EEXIST) {
          return FailErrno("mkdir " + rel);
        }
        break;
      case AE_IFLNK:
        // Kept as a link; readers resolve it with OpenBeneath, which refuses escapes.
        ::unlinkat(parent_fd.Get(), parts->back().c_str(), 0);
        if (::symlinkat(archive_entry_symlink(e), parent_fd.Get(), parts->back().c_str()) != 0) {
          return FailErrno("symlink " + rel);
        }
        break;
      case AE_IFREG: {
        if (const char* link = archive_entry_hardlink(e)) {
          // An in-archive hard link: a symlink to the target, resolved the same careful way.
          auto target = NormalizeTarPath(link);
          if (!target || target->empty())
            return Fail(EINVAL, file + ": hard link '" + rel + "' escapes");
          std::string up;
          for (size_t i = 0; i + 1 < parts->size(); ++i) up += "../";
          std::string joined;
          for (const auto& t : *target) joined += (joined.empty() ? "" : "/") + t;
          ::unlinkat(parent_fd.Get(), parts->back().c_str(), 0);
          if (::symlinkat((up + joined).c_str(), parent_fd.Get(), parts->back().c_str()) != 0) {
            return FailErrno("link " + rel);
          }
          break;
        }
        ::unlinkat(parent_fd.Get(), parts->back().c_str(), 0);
        UniqueFd out(::openat(parent_fd.Get(), parts->back().c_str(),
                              O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
        if (!out) return FailErrno("create " + rel);
        if (archive_read_data_into_fd(a.get(), out.Get()) != ARCHIVE_OK) {
          return Fail(EIO, file + ": " + ArchiveError(a.get()));
        }
        break;
      }
      default:
        break;  // devices, FIFOs: never part of an image archive's own files
    }
  }
  return Ok();
}

}  // namespace strata::store
