// Mounting images: lowerdirs, mount, umount.
#include <sys/mount.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>

#include "tools/commands.h"

namespace strata::cli {
namespace {

using store::Digest;
using store::Store;

// "lowerdir=TOP:...:BOTTOM" for the image.
Result<std::string> LowerdirOption(const Store& store, const std::string& ref) {
  STRATA_ASSIGN_OR_RETURN(Digest id, Resolve(store, ref));
  STRATA_ASSIGN_OR_RETURN(auto image, store.GetImage(id));
  std::string option = "lowerdir=";
  for (size_t i = image.diff_ids.size(); i-- > 0;) {
    if (!store.HasLayer(image.diff_ids[i])) {
      return strata::Fail(ENOENT,
                          "layer " + image.diff_ids[i].String() + " is missing from the store");
    }
    option += store.LayerDir(image.diff_ids[i]);
    if (i) option += ":";
  }
  if (image.diff_ids.empty()) return strata::Fail(EINVAL, "image " + ref + " has no layers");
  return option;
}

}  // namespace

int Lowerdirs(const Globals& g, const std::string& ref) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  auto option = LowerdirOption(*store, ref);
  if (!option) return Report(option.error());
  std::printf("%s\n", option->c_str());
  return 0;
}

// stratafs next to this binary (a build tree, an install), else from PATH.
static std::string StratafsPath() {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string dir(self, static_cast<size_t>(n));
    dir = dir.substr(0, dir.rfind('/'));
    if (::access((dir + "/stratafs").c_str(), X_OK) == 0) return dir + "/stratafs";
  }
  return "stratafs";
}

int Mount(const Globals& g, const std::string& ref, const std::string& mountpoint, bool read_only) {
  if (!read_only) {
    std::fprintf(stderr,
                 "strata: writable mounts need stratafs' writable layer, which is not "
                 "implemented yet: use --read-only\n");
    return 1;
  }
  std::string option;
  {
    auto store = Store::Open(g.root, Store::Lock::kShared);
    if (!store) return Report(store.error());
    auto o = LowerdirOption(*store, ref);
    if (!o) return Report(o.error());
    option = *o;
  }
  const std::string stratafs = StratafsPath();
  std::vector<std::string> args = {stratafs, "-o", option, "strata", mountpoint};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  std::fprintf(stderr, "strata: cannot run %s: %s\n", stratafs.c_str(), std::strerror(errno));
  return 1;
}

int Umount(const std::string& mountpoint) {
  if (::umount2(mountpoint.c_str(), 0) != 0) {
    std::fprintf(stderr, "strata: umount %s: %s\n", mountpoint.c_str(), std::strerror(errno));
    return 1;
  }
  return 0;
}

}  // namespace strata::cli
