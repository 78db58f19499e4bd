#include "layerstore/import/tar_path.h"

#include <array>

namespace strata::store {

Result<std::vector<std::string>> NormalizeTarPath(std::string_view path) {
  if (path.find('\0') != std::string_view::npos) return Fail(EINVAL, "path contains a NUL byte");
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(pos, end - pos);
    if (part == "..")
      return Fail(EINVAL, "path '" + std::string(path) + "' escapes the layer ('..')");
    if (!part.empty() && part != ".") parts.emplace_back(part);
    pos = end + 1;
  }
  return parts;
}

Result<Classified> ClassifyName(std::string_view name) {
  constexpr std::string_view kPrefix = ".wh.";
  constexpr std::string_view kOpaque = ".wh..wh..opq";
  if (!name.starts_with(kPrefix)) return Classified{};
  if (name == kOpaque) return Classified{EntryKind::kOpaque, ""};
  const std::string_view target = name.substr(kPrefix.size());
  if (target.empty()) return Fail(EINVAL, "whiteout '.wh.' names nothing");
  if (target == "." || target == "..")
    return Fail(EINVAL, "whiteout '" + std::string(name) + "' names a directory link");
  if (target.starts_with(kPrefix)) {
    return Fail(EINVAL, "'" + std::string(name) + "' uses the reserved .wh..wh. prefix");
  }
  return Classified{EntryKind::kWhiteout, std::string(target)};
}

bool IsOverlayPrivateXattr(std::string_view name) {
  constexpr std::array<std::string_view, 3> kPrefixes = {"trusted.overlay.", "user.overlay.",
                                                         "user.fuseoverlayfs."};
  for (auto p : kPrefixes) {
    if (name.starts_with(p)) return true;
  }
  return false;
}

}  // namespace strata::store
