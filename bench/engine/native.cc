#include "bench/engine/native.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "bench/engine/system.h"
#include "bench/engine/targets.h"

namespace strata::bench {
namespace {

// What the base copy was made from: a different key makes it anew.
std::string Key(const LayerSet& layers) {
  std::string key = "strata-bench-native-v1\n";
  for (const std::string& l : layers.lowers) key += l + "\n";
  return key;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

Status MakeNativeBase(const LayerSet& layers, const TargetSpec& reference, const std::string& dir,
                      const std::string& scratch, const Progress& progress) {
  const std::string stamp = dir + ".stamp";
  struct stat st;
  if (ReadAll(stamp) == Key(layers) && ::stat(dir.c_str(), &st) == 0) return Ok();
  if (progress) progress("copying the merged tree of " + layers.name + " to " + dir + " (native)");
  STRATA_RETURN_IF_ERROR(RemoveTree(dir));
  STRATA_RETURN_IF_ERROR(RemoveTree(scratch));
  MountRequest request;
  request.layers = &layers;
  request.upper = scratch + "/upper";
  request.work = scratch + "/work";
  request.mountpoint = scratch + "/mnt";
  for (const std::string& d : {request.upper, request.work, request.mountpoint}) {
    STRATA_RETURN_IF_ERROR(MakeDirs(d));
  }
  Status copied = Ok();
  {
    STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Mounted> m, MountTarget(reference, request));
    copied = RunCommand({"cp", "-a", m->root() + "/.", dir});
    if (Status s = m->Close(); copied && !s) copied = s;
  }
  STRATA_RETURN_IF_ERROR(copied);
  STRATA_RETURN_IF_ERROR(RemoveTree(scratch));
  return WriteFile(stamp, Key(layers));
}

Status CopyTreeLinking(const std::string& base, const std::string& dst,
                       const std::vector<std::string>& links) {
  if (links.empty()) return RunCommand({"cp", "-a", base, dst});
  struct stat st;
  if (::lstat(base.c_str(), &st) != 0) return FailErrno("stat " + base);
  if (::mkdir(dst.c_str(), 0700) != 0) return FailErrno("mkdir " + dst);
  DIR* d = ::opendir(base.c_str());
  if (d == nullptr) return FailErrno("opendir " + base);
  std::vector<std::string> names;
  while (const struct dirent* de = ::readdir(d)) {
    const std::string n = de->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  for (const std::string& n : names) {
    const std::string from = base + "/" + n, to = dst + "/" + n;
    std::vector<std::string> inside;
    bool link = false;
    for (const std::string& l : links) {
      if (l == n) link = true;
      if (l.rfind(n + "/", 0) == 0) inside.push_back(l.substr(n.size() + 1));
    }
    if (link) {
      if (::link(from.c_str(), to.c_str()) != 0) return FailErrno("link " + to);
    } else if (!inside.empty()) {
      STRATA_RETURN_IF_ERROR(CopyTreeLinking(from, to, inside));
    } else {
      STRATA_RETURN_IF_ERROR(RunCommand({"cp", "-a", from, to}));
    }
  }
  // The directory's owner and mode last: a read-only one still took its entries.
  if ((::geteuid() == 0 && ::lchown(dst.c_str(), st.st_uid, st.st_gid) != 0) ||
      ::chmod(dst.c_str(), st.st_mode & 07777) != 0) {
    return FailErrno("attributes of " + dst);
  }
  return Ok();
}

}  // namespace strata::bench
