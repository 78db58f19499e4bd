// TarOut: writes a tar stream (pax; xattrs as SCHILY.xattr records, which Go's archive/tar and
// so containers/image read, plus the LIBARCHIVE.xattr ones libarchive 3.6 always adds; no
// block padding) to a file, plain
// or compressed (gzip, zstd), computing on the way both identities a layer has: the diffID
// (sha256 of the tar) and the blob digest (sha256 of the bytes written). Serves OCI layer blobs
// (strata commit) and image archives (strata save). One pass, bounded memory. Not thread-safe;
// the output fd is borrowed.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fs/base/status.h"
#include "layerstore/digest.h"

struct archive;

namespace strata::store {

enum class Compression { kNone, kGzip, kZstd };

// "gzip", "zstd" or "none" (as LayerRecord::compression says).
const char* CompressionName(Compression c);
// Errors: EINVAL for another name.
Result<Compression> ParseCompression(const std::string& name);

struct TarEntry {
  std::string path;      // relative, no leading "/" ("./" for the root directory)
  struct stat st = {};   // type, mode, owner, mtime, size (regular files), rdev
  std::string symlink;   // target of a symlink
  std::string hardlink;  // earlier entry this one is a hard link to (then no data)
  std::vector<std::pair<std::string, std::string>> xattrs;
};

class TarOut {
 public:
  // Errors: EIO naming libarchive's complaint (e.g. no zstd support).
  static Result<std::unique_ptr<TarOut>> Open(int out_fd, Compression compression);
  ~TarOut();
  TarOut(const TarOut&) = delete;
  TarOut& operator=(const TarOut&) = delete;

  // Writes ENTRY's header; a regular file's data (st.st_size bytes) follows with Write.
  Status Add(const TarEntry& entry);
  Status Write(const void* data, size_t size);
  // A regular file of SIZE bytes whose data is read from FD at offset 0 (fails with EIO if FD
  // holds fewer bytes).
  Status AddFile(TarEntry entry, int fd);
  // A regular file holding DATA (mode 0644, owned by root, mtime 0 unless ENTRY says).
  Status AddData(TarEntry entry, const std::string& data);
  // Writes the trailer and flushes everything to the fd.
  Status Finish();

  // After Finish (each once). Uncompressed, both are the same.
  Digest DiffId() { return diff_hash_.Finish(); }
  Digest BlobDigest() { return blob_hash_.Finish(); }
  uint64_t tar_bytes() const { return tar_bytes_; }
  uint64_t blob_bytes() const { return blob_bytes_; }

 private:
  TarOut() = default;
  static ssize_t WriteTar(struct archive* a, void* self, const void* data, size_t size);
  static ssize_t WriteBlob(struct archive* a, void* self, const void* data, size_t size);
  Status ArchiveFailure(struct archive* a, const std::string& what);
  Status Flush(const void* data, size_t size);

  int fd_ = -1;
  Compression compression_ = Compression::kNone;
  struct archive* tar_ = nullptr;         // the tar format writer
  struct archive* compressor_ = nullptr;  // raw format + filter, fed by tar_ (if compressed)
  int write_errno_ = 0;
  Sha256 diff_hash_;
  Sha256 blob_hash_;
  uint64_t tar_bytes_ = 0;
  uint64_t blob_bytes_ = 0;
};

}  // namespace strata::store
