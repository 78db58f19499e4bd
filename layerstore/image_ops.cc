#include "layerstore/image_ops.h"

namespace strata::store {

Result<Resolved> ResolveImage(const Store& store, const std::string& ref) {
  STRATA_ASSIGN_OR_RETURN(auto names, store.ListNames());
  STRATA_ASSIGN_OR_RETURN(auto images, store.ListImages());
  std::vector<Digest> ids;
  for (const auto& image : images) ids.push_back(image.id);
  if (const size_t at = ref.find('@'); at != std::string::npos) {
    auto manifest = ParseDigest(ref.substr(at + 1));
    auto repository = NormalizeName(ref.substr(0, at));
    if (manifest && repository) {
      // Short names match under any registry, as for names (app -> docker.io/library/app).
      const std::string repo = RepositoryOf(*repository);
      const std::string short_suffix =
          ref.starts_with("localhost/") ? "" : "/" + repo.substr(repo.find('/') + 1);
      for (const auto& image : images) {
        for (const RepoDigest& r : image.repo_digests) {
          if (!(r.manifest == *manifest)) continue;
          if (r.repository == repo ||
              (!short_suffix.empty() && r.repository.ends_with(short_suffix))) {
            return Resolved{image.id, "", *manifest};
          }
        }
      }
    }
  }
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
