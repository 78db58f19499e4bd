// TarWriter: layer tars written in tests with libarchive's writer (pax format), plain, gzip or
// zstd, including the hostile ones no sane tool would write.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>

struct archive;

namespace strata::testing {

enum class Compression { kNone, kGzip, kZstd };

struct EntryMeta {
  mode_t mode = 0644;  // permission bits
  int64_t uid = 0;
  int64_t gid = 0;
  time_t mtime = 1700000000;
  long mtime_nsec = 0;
  std::map<std::string, std::string> xattrs;

  EntryMeta& Mode(mode_t m) {
    mode = m;
    return *this;
  }
  EntryMeta& Owner(int64_t u, int64_t g) {
    uid = u;
    gid = g;
    return *this;
  }
  EntryMeta& Mtime(time_t sec, long nsec = 0) {
    mtime = sec;
    mtime_nsec = nsec;
    return *this;
  }
  EntryMeta& Xattr(const std::string& name, const std::string& value) {
    xattrs[name] = value;
    return *this;
  }
};

class TarWriter {
 public:
  explicit TarWriter(Compression compression = Compression::kNone);
  ~TarWriter();
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

  TarWriter& File(const std::string& path, const std::string& data, EntryMeta meta = {});
  // SIZE bytes, DATA at OFFSET, holes elsewhere (recorded as a sparse file).
  TarWriter& Sparse(const std::string& path, int64_t size, int64_t offset, const std::string& data);
  TarWriter& Dir(const std::string& path, EntryMeta meta = EntryMeta().Mode(0755));
  TarWriter& Symlink(const std::string& path, const std::string& target, EntryMeta meta = {});
  TarWriter& Hardlink(const std::string& path, const std::string& target);
  TarWriter& Fifo(const std::string& path);
  TarWriter& Device(const std::string& path, bool block, unsigned major, unsigned minor);

  // Closes the archive; returns its bytes (compressed as asked).
  std::string Finish();

 private:
  void Add(const std::string& path, mode_t type, const EntryMeta& meta, const std::string& data,
           const std::string& link, bool hardlink, dev_t rdev = 0);
  struct archive* archive_;
  std::string out_;
};

// Writes BYTES to an anonymous file and returns its fd at offset 0 (caller closes).
int MemFile(const std::string& bytes);

}  // namespace strata::testing
