#include "layerstore/image_ops.h"

namespace strata::store {

Result<Resolved> ResolveImage(const Store& store, const std::string& ref) {
  STRATA_ASSIGN_OR_RETURN(auto names, store.ListNames());
  STRATA_ASSIGN_OR_RETURN(auto images, store.ListImages());
  std::vector<Digest> ids;
  for (const auto& image : images) ids.push_back(image.id);
  return ResolveReferenceName(ref, names, ids);
}

Result<Removal> RemoveReference(Store& store, const std::string& ref) {
  STRATA_ASSIGN_OR_RETURN(Resolved resolved, ResolveImage(store, ref));
  STRATA_ASSIGN_OR_RETURN(auto names, store.ListNames());
  size_t aliases = 0;
  for (const auto& [name, id] : names) aliases += id == resolved.id ? 1 : 0;
  Removal removal{resolved.id, "", false};
  if (!resolved.name.empty() && aliases > 1) {
    STRATA_RETURN_IF_ERROR(store.RemoveName(resolved.name));
    removal.untagged = resolved.name;
  } else {
    STRATA_RETURN_IF_ERROR(store.RemoveImage(resolved.id));
    removal.image_removed = true;
  }
  return removal;
}

Result<std::vector<Digest>> RemoveUnnamedImages(Store& store) {
  STRATA_ASSIGN_OR_RETURN(auto images, store.ListImages());
  STRATA_ASSIGN_OR_RETURN(auto names, store.ListNames());
  STRATA_ASSIGN_OR_RETURN(auto containers, store.ListContainers());
  std::vector<Digest> removed;
  for (const auto& image : images) {
    bool needed = false;
    for (const auto& [name, id] : names) needed |= id == image.id;
    for (const auto& c : containers) needed |= c.image == image.id;
    if (needed) continue;
    STRATA_RETURN_IF_ERROR(store.RemoveImage(image.id));
    removed.push_back(image.id);
  }
  return removed;
}

}  // namespace strata::store
