// Mounting images: lowerdirs, mount, umount.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "tools/commands.h"

namespace strata::cli {
namespace {

using store::Digest;
using store::Store;

// "lowerdir=TOP:...:BOTTOM" for the image.
Result<std::string> LowerdirOption(const Store& store, const std::string& ref) {
  STRATA_ASSIGN_OR_RETURN(std::vector<std::string> lowers, ImageLowers(store, ref));
  std::string option = "lowerdir=";
  for (size_t i = 0; i < lowers.size(); ++i) option += (i ? ":" : "") + lowers[i];
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

// The container name used when none is given: stable for one mountpoint, so mounting the same
// path again continues the same changes.
static std::string DefaultContainerName(const std::string& mountpoint) {
  char real[PATH_MAX];
  const std::string path = ::realpath(mountpoint.c_str(), real) ? real : mountpoint;
  return "mnt-" + store::Sha256Of(path).encoded.substr(0, 12);
}

int Mount(const Globals& g, const std::string& ref, const std::string& mountpoint,
          const MountLayer& layer) {
  std::string option;
  {
    auto store = Store::Open(g.root, Store::Lock::kShared);
    if (!store) return Report(store.error());
    auto o = LowerdirOption(*store, ref);
    if (!o) return Report(o.error());
    option = *o;
    // Layers imported without root keep foreign owners and devices in
    // user.containers.override_stat: let stratafs show them.
    if (::geteuid() != 0) option += ",xattr_permissions=2";
    if (!layer.upper.empty()) {
      for (const char* sub : {"", "/diff", "/work"}) {
        const std::string dir = layer.upper + sub;
        if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
          return Report(Error{errno, "create " + dir});
        }
      }
      option += ",upperdir=" + layer.upper + "/diff,workdir=" + layer.upper + "/work";
    } else if (!layer.read_only) {
      auto id = Resolve(*store, ref);
      if (!id) return Report(id.error());
      const std::string name = layer.name.empty() ? DefaultContainerName(mountpoint) : layer.name;
      auto container = store->EnsureContainer(name, *id);
      if (!container) return Report(container.error());
      option += ",upperdir=" + container->upper + ",workdir=" + container->work;
      if (!g.quiet) std::fprintf(stderr, "container %s\n", name.c_str());
    }
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

int Containers(const Globals& g, const std::string& format) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  auto containers = store->ListContainers();
  if (!containers) return Report(containers.error());
  auto names = store->ListNames();
  if (!names) return Report(names.error());
  nlohmann::json rows = nlohmann::json::array();
  if (format != "json") std::printf("%-24s %-14s %s\n", "CONTAINER", "IMAGE ID", "IMAGE");
  for (const auto& c : *containers) {
    std::string image_name;
    for (const auto& [n, id] : *names) {
      if (id == c.image && image_name.empty()) image_name = n;
    }
    if (format == "json") {
      rows.push_back({{"name", c.name},
                      {"image", c.image.String()},
                      {"image_name", image_name},
                      {"upper", c.upper}});
    } else {
      std::printf("%-24s %-14s %s\n", c.name.c_str(), Short(c.image).c_str(),
                  image_name.empty() ? "<none>" : image_name.c_str());
    }
  }
  if (format == "json") std::printf("%s\n", rows.dump(2).c_str());
  return 0;
}

int RemoveContainers(const Globals& g, const std::vector<std::string>& names) {
  auto store = Store::Open(g.root, Store::Lock::kExclusive);
  if (!store) return Report(store.error());
  int rc = 0;
  for (const std::string& name : names) {
    if (auto removed = store->RemoveContainer(name); !removed) {
      rc = Report(removed.error());
    } else if (!g.quiet) {
      std::printf("%s\n", name.c_str());
    }
  }
  return rc;
}

int Umount(const std::string& mountpoint) {
  if (::umount2(mountpoint.c_str(), 0) == 0) return 0;
  if (errno != EPERM) {
    std::fprintf(stderr, "strata: umount %s: %s\n", mountpoint.c_str(), std::strerror(errno));
    return 1;
  }
  // Not privileged: a user's FUSE mount comes off through fusermount3 (setuid root), which
  // checks that the mount is the user's and says why if not.
  std::vector<std::string> args = {"fusermount3", "-u", mountpoint};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  std::fprintf(stderr, "strata: umount %s: not permitted, and fusermount3 cannot run: %s\n",
               mountpoint.c_str(), std::strerror(errno));
  return 1;
}

}  // namespace strata::cli
