// LayerBuilder: writes a layer directory the way image tools and kernel overlayfs do, in any
// whiteout/opaque encoding. Parents are created as needed (0755). Every call aborts the test
// (throws std::runtime_error with the path and errno) on failure. Device nodes and trusted.*
// xattrs need root.
#pragma once

#include <sys/types.h>

#include <string>

namespace strata::testing {

enum class Encoding {
  kKernel,         // whiteout: char 0/0; opaque: trusted.overlay.opaque=y
  kOci,            // whiteout: .wh.NAME; opaque: .wh..wh..opq
  kUserXattr,      // whiteout: char 0/0; opaque: user.overlay.opaque=y
  kFuseOverlayfs,  // whiteout: char 0/0; opaque: user.fuseoverlayfs.opaque=y
  kXattrWhiteout,  // whiteout: empty file + trusted.overlay.whiteout, parent opaque=x
};

// "Kernel", "Oci", "UserXattr", "FuseOverlayfsXattr", "XattrWhiteout" (valid gtest names).
const char* EncodingName(Encoding enc);

class LayerBuilder {
 public:
  explicit LayerBuilder(std::string root);
  const std::string& root() const { return root_; }
  std::string Path(const std::string& rel) const { return root_ + "/" + rel; }

  LayerBuilder& Dir(const std::string& rel, mode_t mode = 0755);
  LayerBuilder& File(const std::string& rel, const std::string& content = "", mode_t mode = 0644);
  // A file of SIZE bytes with DATA written at OFFSET and holes elsewhere.
  LayerBuilder& SparseFile(const std::string& rel, off_t size, off_t offset,
                           const std::string& data);
  LayerBuilder& Symlink(const std::string& rel, const std::string& target);
  LayerBuilder& Hardlink(const std::string& rel, const std::string& existing_rel);
  LayerBuilder& Fifo(const std::string& rel);
  LayerBuilder& CharDev(const std::string& rel, unsigned major, unsigned minor);
  LayerBuilder& Whiteout(const std::string& rel, Encoding enc);
  LayerBuilder& Opaque(const std::string& rel, Encoding enc);  // creates the dir if missing
  LayerBuilder& Xattr(const std::string& rel, const std::string& name, const std::string& value);
  LayerBuilder& Chown(const std::string& rel, uid_t uid, gid_t gid);
  LayerBuilder& Chmod(const std::string& rel, mode_t mode);
  LayerBuilder& Mtime(const std::string& rel, time_t sec, long nsec);

 private:
  void Parents(const std::string& rel);
  std::string root_;
};

}  // namespace strata::testing
