#include "fs/core/layer_stack.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <map>

namespace strata::core {

Result<LayerStack> LayerStack::Open(const std::vector<std::string>& paths) {
  if (paths.empty()) return Fail(EINVAL, "no lower layer given");
  if (paths.size() > kMaxLayers) {
    return Fail(EINVAL, std::to_string(paths.size()) + " layers given, at most " +
                            std::to_string(kMaxLayers) + " are supported");
  }
  LayerStack stack;
  std::map<dev_t, int> fs_index;
  for (const std::string& path : paths) {
    const std::string what = "layer '" + path + "'";
    UniqueFd fd(::open(path.c_str(), O_PATH | O_CLOEXEC));
    if (!fd) return FailErrno(what);
    struct stat st;
    if (::fstat(fd.Get(), &st) != 0) return FailErrno(what);
    if (!S_ISDIR(st.st_mode)) return Fail(ENOTDIR, what);
    // Check that we may search it: a layer we cannot read would silently show as empty.
    UniqueFd probe(::openat(fd.Get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!probe) return FailErrno(what);
    auto [it, inserted] = fs_index.try_emplace(st.st_dev, static_cast<int>(fs_index.size()));
    stack.layers_.push_back(Layer{path, std::move(fd), st.st_dev, it->second});
  }
  stack.same_fs_ = fs_index.size() == 1;
  return stack;
}

}  // namespace strata::core
