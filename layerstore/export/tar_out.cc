#include "layerstore/export/tar_out.h"

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "layerstore/import/archive_error.h"

namespace strata::store {

const char* CompressionName(Compression c) {
  switch (c) {
    case Compression::kGzip: return "gzip";
    case Compression::kZstd: return "zstd";
    case Compression::kNone: break;
  }
  return "none";
}

Result<Compression> ParseCompression(const std::string& name) {
  if (name == "gzip") return Compression::kGzip;
  if (name == "zstd") return Compression::kZstd;
  if (name == "none") return Compression::kNone;
  return Fail(EINVAL, "compression '" + name + "': expected gzip, zstd or none");
}

Result<std::unique_ptr<TarOut>> TarOut::Open(int out_fd, Compression compression) {
  std::unique_ptr<TarOut> out(new TarOut());
  out->fd_ = out_fd;
  out->compression_ = compression;
  if (compression != Compression::kNone) {
    struct archive* c = archive_write_new();
    out->compressor_ = c;
    const int added = compression == Compression::kGzip ? archive_write_add_filter_gzip(c)
                                                        : archive_write_add_filter_zstd(c);
    if (added != ARCHIVE_OK || archive_write_set_format_raw(c) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(c, 0) != ARCHIVE_OK ||
        archive_write_open2(c, out.get(), nullptr, &TarOut::WriteBlob, nullptr, nullptr) !=
            ARCHIVE_OK) {
      return Unexpected{out->ArchiveFailure(c, "start compressor").error()};
    }
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, "layer.tar");
    archive_entry_set_filetype(e, AE_IFREG);
    const int r = archive_write_header(c, e);
    archive_entry_free(e);
    if (r != ARCHIVE_OK) return Unexpected{out->ArchiveFailure(c, "start compressor").error()};
  }
  struct archive* t = archive_write_new();
  out->tar_ = t;
  if (archive_write_set_format_pax(t) != ARCHIVE_OK ||
      archive_write_set_bytes_per_block(t, 0) != ARCHIVE_OK ||
      archive_write_open2(t, out.get(), nullptr, &TarOut::WriteTar, nullptr, nullptr) !=
          ARCHIVE_OK) {
    return Unexpected{out->ArchiveFailure(t, "start tar").error()};
  }
  return out;
}

TarOut::~TarOut() {
  if (tar_) archive_write_free(tar_);
  if (compressor_) archive_write_free(compressor_);
}

Status TarOut::ArchiveFailure(struct archive* a, const std::string& what) {
  if (write_errno_ != 0) return Fail(write_errno_, what + ": write");
  return Fail(EIO, what + ": " + ArchiveError(a));
}

Status TarOut::Flush(const void* data, size_t size) {
  blob_hash_.Update(data, size);
  blob_bytes_ += size;
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return FailErrno("write");
    p += n;
    size -= static_cast<size_t>(n);
  }
  return Ok();
}

ssize_t TarOut::WriteTar(struct archive*, void* self, const void* data, size_t size) {
  auto* out = static_cast<TarOut*>(self);
  out->diff_hash_.Update(data, size);
  out->tar_bytes_ += size;
  if (out->compressor_) {
    const la_ssize_t n = archive_write_data(out->compressor_, data, size);
    if (n < 0 || static_cast<size_t>(n) != size) {
      if (out->write_errno_ == 0) out->write_errno_ = EIO;
      return -1;
    }
    return static_cast<ssize_t>(size);
  }
  if (Status s = out->Flush(data, size); !s) {
    out->write_errno_ = s.error().code;
    return -1;
  }
  return static_cast<ssize_t>(size);
}

ssize_t TarOut::WriteBlob(struct archive*, void* self, const void* data, size_t size) {
  auto* out = static_cast<TarOut*>(self);
  if (Status s = out->Flush(data, size); !s) {
    out->write_errno_ = s.error().code;
    return -1;
  }
  return static_cast<ssize_t>(size);
}

Status TarOut::Add(const TarEntry& entry) {
  struct archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, entry.path.c_str());
  archive_entry_set_mode(e, entry.st.st_mode);
  archive_entry_set_uid(e, entry.st.st_uid);
  archive_entry_set_gid(e, entry.st.st_gid);
  archive_entry_set_mtime(e, entry.st.st_mtim.tv_sec, entry.st.st_mtim.tv_nsec);
  if (!entry.hardlink.empty()) {
    archive_entry_set_hardlink(e, entry.hardlink.c_str());
    archive_entry_set_size(e, 0);
  } else if (S_ISREG(entry.st.st_mode)) {
    archive_entry_set_size(e, entry.st.st_size);
  } else {
    archive_entry_set_size(e, 0);
  }
  if (S_ISLNK(entry.st.st_mode)) archive_entry_set_symlink(e, entry.symlink.c_str());
  if (S_ISCHR(entry.st.st_mode) || S_ISBLK(entry.st.st_mode)) {
    archive_entry_set_rdev(e, entry.st.st_rdev);
  }
  for (const auto& [name, value] : entry.xattrs) {
    archive_entry_xattr_add_entry(e, name.c_str(), value.data(), value.size());
  }
  const int r = archive_write_header(tar_, e);
  archive_entry_free(e);
  if (r != ARCHIVE_OK) return ArchiveFailure(tar_, entry.path);
  return Ok();
}

Status TarOut::Write(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const la_ssize_t n = archive_write_data(tar_, p, size);
    if (n <= 0) return ArchiveFailure(tar_, "tar data");
    p += n;
    size -= static_cast<size_t>(n);
  }
  return Ok();
}

Status TarOut::AddFile(TarEntry entry, int fd) {
  STRATA_RETURN_IF_ERROR(Add(entry));
  std::vector<char> buf(1 << 17);
  off_t offset = 0;
  const off_t size = entry.st.st_size;
  while (offset < size) {
    const size_t want = static_cast<size_t>(std::min<off_t>(size - offset, buf.size()));
    const ssize_t n = ::pread(fd, buf.data(), want, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno("read " + entry.path);
    if (n == 0) return Fail(EIO, entry.path + ": shorter than its size while being archived");
    STRATA_RETURN_IF_ERROR(Write(buf.data(), static_cast<size_t>(n)));
    offset += n;
  }
  return Ok();
}

Status TarOut::AddData(TarEntry entry, const std::string& data) {
  if (entry.st.st_mode == 0) entry.st.st_mode = S_IFREG | 0644;
  entry.st.st_size = static_cast<off_t>(data.size());
  STRATA_RETURN_IF_ERROR(Add(entry));
  return Write(data.data(), data.size());
}

Status TarOut::Finish() {
  if (archive_write_close(tar_) != ARCHIVE_OK) return ArchiveFailure(tar_, "finish tar");
  if (compressor_ && archive_write_close(compressor_) != ARCHIVE_OK) {
    return ArchiveFailure(compressor_, "finish compression");
  }
  return Ok();
}

}  // namespace strata::store
