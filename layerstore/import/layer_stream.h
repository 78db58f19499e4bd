// LayerStream: the uncompressed tar stream of a layer blob, with both identities computed on
// the way through: the blob digest (sha256 of the bytes as stored) and the diffID (sha256 of the
// uncompressed tar). Compression is recognised by magic bytes (gzip 1f 8b, zstd 28 b5 2f fd),
// never by a media type; anything else is read as plain tar. One pass, bounded memory.
// Not thread-safe; owns no fd (the blob fd is borrowed).
#pragma once

#include <archive.h>

#include <memory>
#include <string>
#include <vector>

#include "fs/base/status.h"
#include "layerstore/digest.h"

namespace strata::store {

class LayerStream {
 public:
  // Starts reading the blob from BLOB_FD's current offset. Errors: EIO naming libarchive's
  // complaint (e.g. a corrupt gzip header).
  static Result<std::unique_ptr<LayerStream>> Open(int blob_fd);
  ~LayerStream();
  LayerStream(const LayerStream&) = delete;
  LayerStream& operator=(const LayerStream&) = delete;

  // Up to SIZE uncompressed bytes; 0 at the end. Errors: EIO (corrupt or truncated data), or
  // the errno of read(2).
  Result<size_t> Read(void* buf, size_t size);
  // Reads to the end (trailing padding after the tar trailer belongs to the diffID too).
  Status Drain();

  // True once the uncompressed stream has ended (Read returned 0).
  bool at_end() const { return eof_; }
  // "gzip", "zstd" or "none".
  const std::string& compression() const { return compression_; }
  uint64_t uncompressed_bytes() const { return uncompressed_bytes_; }
  // Valid once Read returned 0 (or Drain succeeded).
  Digest BlobDigest() { return blob_hash_.Finish(); }
  Digest DiffId() { return diff_hash_.Finish(); }

 private:
  LayerStream() = default;
  static la_ssize_t ReadCallback(struct archive* a, void* self, const void** buffer);

  int fd_ = -1;
  int read_errno_ = 0;
  struct archive* archive_ = nullptr;
  std::vector<char> buffer_;
  Sha256 blob_hash_;
  Sha256 diff_hash_;
  std::string compression_;
  uint64_t uncompressed_bytes_ = 0;
  bool eof_ = false;
};

}  // namespace strata::store
