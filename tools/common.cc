#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>

#include "layerstore/image_ops.h"
#include "tools/commands.h"

namespace strata::cli {

using store::Digest;
using store::Store;

std::string DefaultRoot() {
  if (const char* env = std::getenv("STRATA_ROOT"); env && *env) return env;
  if (::geteuid() == 0) return "/var/lib/strata";
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg)
    return std::string(xdg) + "/strata";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/tmp") + "/.local/share/strata";
}

int Report(const strata::Error& e) {
  std::fprintf(stderr, "strata: %s\n", e.Message().c_str());
  return 1;
}

std::string Short(const Digest& d) { return d.encoded.substr(0, 12); }

Result<Digest> Resolve(const Store& store, const std::string& ref) {
  STRATA_ASSIGN_OR_RETURN(store::Resolved resolved, store::ResolveImage(store, ref));
  return resolved.id;
}

Result<std::vector<std::string>> ImageLowers(const Store& store, const std::string& ref) {
  STRATA_ASSIGN_OR_RETURN(Digest id, Resolve(store, ref));
  STRATA_ASSIGN_OR_RETURN(auto image, store.GetImage(id));
  if (image.diff_ids.empty()) return strata::Fail(EINVAL, "image " + ref + " has no layers");
  std::vector<std::string> lowers;
  for (size_t i = image.diff_ids.size(); i-- > 0;) {
    if (!store.HasLayer(image.diff_ids[i])) {
      return strata::Fail(ENOENT, "layer " + image.diff_ids[i].String() + " is missing from the store");
    }
    lowers.push_back(store.LayerDir(image.diff_ids[i]));
  }
  return lowers;
}

std::string SelfDir() {
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "";
  const std::string path(self, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/'));
}

std::string StratafsPath() {
  const std::string dir = SelfDir();
  if (!dir.empty() && ::access((dir + "/stratafs").c_str(), X_OK) == 0) return dir + "/stratafs";
  return "stratafs";
}

}  // namespace strata::cli
