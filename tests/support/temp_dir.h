// TempDir: a fresh directory removed (recursively, never crossing into mounts) on destruction.
#pragma once

#include <string>

namespace strata::testing {

class TempDir {
 public:
  // Creates a directory named strata-XXXXXX under BASE (default: $TMPDIR, else /tmp).
  explicit TempDir(const std::string& base = "");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

// rm -rf that stays on one filesystem. Returns false if anything could not be removed.
bool RemoveTree(const std::string& path);

}  // namespace strata::testing
