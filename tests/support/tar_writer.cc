#include "tests/support/tar_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <stdexcept>

namespace strata::testing {
namespace {

la_ssize_t WriteCallback(struct archive*, void* self, const void* buf, size_t size) {
  static_cast<std::string*>(self)->append(static_cast<const char*>(buf), size);
  return static_cast<la_ssize_t>(size);
}

}  // namespace

TarWriter::TarWriter(Compression compression) : archive_(archive_write_new()) {
  archive_write_set_format_pax_restricted(archive_);
  if (compression == Compression::kGzip) archive_write_add_filter_gzip(archive_);
  if (compression == Compression::kZstd) archive_write_add_filter_zstd(archive_);
  archive_write_set_bytes_in_last_block(archive_, 1);
  if (archive_write_open(archive_, &out_, nullptr, WriteCallback, nullptr) != ARCHIVE_OK) {
    throw std::runtime_error(archive_error_string(archive_));
  }
}

TarWriter::~TarWriter() { archive_write_free(archive_); }

void TarWriter::Add(const std::string& path, mode_t type, const EntryMeta& meta,
                    const std::string& data, const std::string& link, bool hardlink, dev_t rdev) {
  struct archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, path.c_str());
  if (hardlink) {
    archive_entry_set_hardlink(e, link.c_str());
  } else {
    archive_entry_set_filetype(e, type);
    if (type == AE_IFLNK) archive_entry_set_symlink(e, link.c_str());
  }
  archive_entry_set_perm(e, meta.mode);
  archive_entry_set_uid(e, meta.uid);
  archive_entry_set_gid(e, meta.gid);
  archive_entry_set_mtime(e, meta.mtime, meta.mtime_nsec);
  archive_entry_set_rdev(e, rdev);
  for (const auto& [name, value] : meta.xattrs) {
    archive_entry_xattr_add_entry(e, name.c_str(), value.data(), value.size());
  }
  archive_entry_set_size(e, hardlink ? 0 : static_cast<la_int64_t>(data.size()));
  if (archive_write_header(archive_, e) < ARCHIVE_WARN) {
    throw std::runtime_error(std::string("write header: ") + archive_error_string(archive_));
  }
  if (!data.empty()) archive_write_data(archive_, data.data(), data.size());
  archive_entry_free(e);
}

TarWriter& TarWriter::File(const std::string& path, const std::string& data, EntryMeta meta) {
  Add(path, AE_IFREG, meta, data, "", false);
  return *this;
}

TarWriter& TarWriter::Sparse(const std::string& path, int64_t size, int64_t offset,
                             const std::string& data) {
  struct archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, path.c_str());
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  archive_entry_set_size(e, size);
  archive_entry_sparse_add_entry(e, offset, static_cast<la_int64_t>(data.size()));
  if (archive_write_header(archive_, e) < ARCHIVE_WARN) {
    throw std::runtime_error(std::string("write header: ") + archive_error_string(archive_));
  }
  // libarchive's writer takes the whole logical content and stores only the data regions.
  std::string logical(static_cast<size_t>(size), '\0');
  logical.replace(static_cast<size_t>(offset), data.size(), data);
  archive_write_data(archive_, logical.data(), logical.size());
  archive_entry_free(e);
  return *this;
}

TarWriter& TarWriter::Dir(const std::string& path, EntryMeta meta) {
  Add(path, AE_IFDIR, meta, "", "", false);
  return *this;
}

TarWriter& TarWriter::Symlink(const std::string& path, const std::string& target, EntryMeta meta) {
  Add(path, AE_IFLNK, meta.Mode(0777), "", target, false);
  return *this;
}

TarWriter& TarWriter::Hardlink(const std::string& path, const std::string& target) {
  Add(path, AE_IFREG, EntryMeta{}, "", target, true);
  return *this;
}

TarWriter& TarWriter::Fifo(const std::string& path) {
  Add(path, AE_IFIFO, EntryMeta{}, "", "", false);
  return *this;
}

TarWriter& TarWriter::Device(const std::string& path, bool block, unsigned major, unsigned minor) {
  Add(path, block ? AE_IFBLK : AE_IFCHR, EntryMeta().Mode(0600), "", "", false,
      makedev(major, minor));
  return *this;
}

std::string TarWriter::Finish() {
  archive_write_close(archive_);
  return out_;
}

int MemFile(const std::string& bytes) {
  int fd = ::memfd_create("layer", MFD_CLOEXEC);
  if (fd < 0 || ::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) {
    throw std::runtime_error("memfd");
  }
  ::lseek(fd, 0, SEEK_SET);
  return fd;
}

}  // namespace strata::testing
