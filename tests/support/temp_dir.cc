#include "tests/support/temp_dir.h"

#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>

namespace strata::testing {
namespace {

bool g_failed = false;

int RemoveOne(const char* path, const struct stat* /*st*/, int type, struct FTW* /*ftw*/) {
  int rc = type == FTW_DP ? ::rmdir(path) : ::unlink(path);
  if (rc != 0) g_failed = true;
  return 0;
}

}  // namespace

bool RemoveTree(const std::string& path) {
  g_failed = false;
  if (::nftw(path.c_str(), RemoveOne, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0) return false;
  return !g_failed;
}

TempDir::TempDir(const std::string& base) {
  const char* env = getenv("TMPDIR");
  std::string tmpl = (!base.empty() ? base : env && *env ? env : "/tmp") + "/strata-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (!RemoveTree(path_)) std::fprintf(stderr, "warning: could not remove %s\n", path_.c_str());
}

}  // namespace strata::testing
