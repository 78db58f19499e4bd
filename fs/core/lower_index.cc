#include "fs/core/lower_index.h"

#include "fs/core/dir_merge.h"

namespace strata::core {

bool LowerIndex::Matches(const RealDirs& reals, size_t first) const {
  if (reals.size() < first || reals.size() - first != layers.size()) return false;
  for (size_t i = first; i < reals.size(); ++i) {
    if (reals[i].layer != layers[i - first]) return false;
  }
  return true;
}

Result<std::shared_ptr<const LowerIndex>> BuildLowerIndex(const RealDirs& reals, size_t first,
                                                          const LayerStack& layers) {
  auto index = std::make_shared<LowerIndex>();
  for (size_t i = first; i < reals.size(); ++i) index->layers.push_back(reals[i].layer);
  MergeInput input;
  input.reals = &reals;
  input.first = first;
  STRATA_ASSIGN_OR_RETURN(std::vector<DirEntry> entries, MergeDirectory(input, layers));
  if (entries.size() > LowerIndex::kMaxNames) {
    index->too_big = true;
    return std::shared_ptr<const LowerIndex>(std::move(index));
  }
  index->layer_of.reserve(entries.size());
  for (const DirEntry& e : entries) {
    if (e.name == "." || e.name == "..") continue;
    index->layer_of.emplace(e.name, reals[e.real_index].layer);
  }
  return std::shared_ptr<const LowerIndex>(std::move(index));
}

}  // namespace strata::core
