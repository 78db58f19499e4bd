#include "layerstore/import/layer_stream.h"

#include <archive_entry.h>
#include <unistd.h>

#include <vector>

#include "layerstore/import/archive_error.h"

namespace strata::store {

Result<std::unique_ptr<LayerStream>> LayerStream::Open(int blob_fd) {
  std::unique_ptr<LayerStream> s(new LayerStream());
  s->fd_ = blob_fd;
  s->buffer_.resize(1 << 17);
  s->archive_ = archive_read_new();
  // Only the filters we accept; libarchive bids on each by its magic bytes.
  archive_read_support_filter_gzip(s->archive_);
  archive_read_support_filter_zstd(s->archive_);
  archive_read_support_format_raw(s->archive_);
  if (archive_read_open(s->archive_, s.get(), nullptr, ReadCallback, nullptr) != ARCHIVE_OK) {
    return Fail(s->read_errno_ ? s->read_errno_ : EIO,
                std::string("layer blob: ") + ArchiveError(s->archive_));
  }
  struct archive_entry* entry = nullptr;
  int rc = archive_read_next_header(s->archive_, &entry);
  if (rc == ARCHIVE_EOF) {
    s->eof_ = true;  // an empty blob: not a tar, the tar reader will say so
  } else if (rc != ARCHIVE_OK) {
    return Fail(s->read_errno_ ? s->read_errno_ : EIO,
                std::string("layer blob: ") + ArchiveError(s->archive_));
  }
  switch (archive_filter_code(s->archive_, 0)) {
    case ARCHIVE_FILTER_GZIP:
      s->compression_ = "gzip";
      break;
    case ARCHIVE_FILTER_ZSTD:
      s->compression_ = "zstd";
      break;
    default:
      s->compression_ = "none";
  }
  return s;
}

LayerStream::~LayerStream() {
  if (archive_) archive_read_free(archive_);
}

la_ssize_t LayerStream::ReadCallback(struct archive* a, void* self, const void** buffer) {
  auto* s = static_cast<LayerStream*>(self);
  for (;;) {
    ssize_t n = ::read(s->fd_, s->buffer_.data(), s->buffer_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s->read_errno_ = errno;
      archive_set_error(a, errno, "read failed");
      return -1;
    }
    s->blob_hash_.Update(s->buffer_.data(), static_cast<size_t>(n));
    *buffer = s->buffer_.data();
    return n;
  }
}

Result<size_t> LayerStream::Read(void* buf, size_t size) {
  if (eof_) return size_t{0};
  la_ssize_t n = archive_read_data(archive_, buf, size);
  if (n < 0) {
    return Fail(read_errno_ ? read_errno_ : EIO,
                std::string("layer blob: ") + ArchiveError(archive_));
  }
  if (n == 0) eof_ = true;
  diff_hash_.Update(buf, static_cast<size_t>(n));
  uncompressed_bytes_ += static_cast<uint64_t>(n);
  return static_cast<size_t>(n);
}

Status LayerStream::Drain() {
  std::vector<char> buf(1 << 16);
  for (;;) {
    STRATA_ASSIGN_OR_RETURN(size_t n, Read(buf.data(), buf.size()));
    if (n == 0) break;
  }
  // Bytes after the compressed stream's end still belong to the blob and its digest.
  for (;;) {
    ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FailErrno("read layer blob");
    if (n == 0) return Ok();
    blob_hash_.Update(buf.data(), static_cast<size_t>(n));
  }
}

}  // namespace strata::store
