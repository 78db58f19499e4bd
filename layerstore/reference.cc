#include "layerstore/reference.h"

#include <algorithm>
#include <cctype>

namespace strata::store {
namespace {

bool IsHex(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

}  // namespace

Result<std::string> NormalizeName(const std::string& name) {
  if (name.empty()) return Fail(EINVAL, "empty image name");
  for (char c : name) {
    if (std::isspace(static_cast<unsigned char>(c)))
      return Fail(EINVAL, "image name '" + name + "' has whitespace");
  }
  std::string repo = name, tag;
  const size_t slash = name.rfind('/');
  const size_t colon = name.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    repo = name.substr(0, colon);
    tag = name.substr(colon + 1);
    if (tag.empty()) return Fail(EINVAL, "image name '" + name + "' has an empty tag");
  }
  if (repo.empty()) return Fail(EINVAL, "image name '" + name + "' has no repository");
  const size_t first_slash = repo.find('/');
  const std::string first = repo.substr(0, first_slash);
  const bool has_registry = first_slash != std::string::npos &&
                            (first.find('.') != std::string::npos ||
                             first.find(':') != std::string::npos || first == "localhost");
  if (!has_registry) repo = "localhost/" + repo;
  const std::string path = repo.substr(repo.find('/') + 1);
  if (std::any_of(path.begin(), path.end(),
                  [](char c) { return std::isupper(static_cast<unsigned char>(c)); })) {
    return Fail(EINVAL, "image name '" + name + "': repository names are lowercase");
  }
  return repo + ":" + (tag.empty() ? "latest" : tag);
}

std::string RepositoryOf(const std::string& name) {
  const size_t slash = name.rfind('/');
  const size_t colon = name.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    return name.substr(0, colon);
  }
  return name;
}

Result<Digest> ResolveReference(const std::string& ref,
                                const std::vector<std::pair<std::string, Digest>>& names,
                                const std::vector<Digest>& ids) {
  STRATA_ASSIGN_OR_RETURN(Resolved r, ResolveReferenceName(ref, names, ids));
  return r.id;
}

Result<Resolved> ResolveReferenceName(const std::string& ref,
                                      const std::vector<std::pair<std::string, Digest>>& names,
                                      const std::vector<Digest>& ids) {
  std::string hex = ref;
  if (hex.starts_with("sha256:")) hex = hex.substr(7);
  if (hex.size() >= 12 && IsHex(hex)) {
    const Digest* match = nullptr;
    for (const Digest& id : ids) {
      if (!id.encoded.starts_with(hex)) continue;
      if (match && !(*match == id))
        return Fail(EINVAL, "image ID prefix '" + ref + "' is ambiguous");
      match = &id;
    }
    if (match) return Resolved{*match, "", std::nullopt};
    if (ref.starts_with("sha256:")) return Fail(ENOENT, "no image with ID " + ref);
  }
  // name@sha256:... pins the image by ID.
  if (const size_t at = ref.find('@'); at != std::string::npos) {
    STRATA_ASSIGN_OR_RETURN(Digest pinned, ParseDigest(ref.substr(at + 1)));
    for (const Digest& id : ids) {
      if (id == pinned) return Resolved{id, "", std::nullopt};
    }
    return Fail(ENOENT, "no image with ID " + pinned.String());
  }
  STRATA_ASSIGN_OR_RETURN(std::string normalized, NormalizeName(ref));
  for (const auto& [name, id] : names) {
    if (name == normalized) return Resolved{id, name, std::nullopt};
  }
  // A short name ("app:v1") also matches one stored under a registry ("docker.io/library/app:v1"),
  // as podman's short-name lookup in local storage does, if exactly one image matches.
  if (normalized.starts_with("localhost/") && !ref.starts_with("localhost/")) {
    const std::string suffix = "/" + normalized.substr(std::string("localhost/").size());
    const std::pair<std::string, Digest>* match = nullptr;
    for (const auto& entry : names) {
      if (!entry.first.ends_with(suffix)) continue;
      if (match && !(match->second == entry.second)) {
        return Fail(EINVAL, "short name '" + ref + "' is ambiguous");
      }
      match = &entry;
    }
    if (match) return Resolved{match->second, match->first, std::nullopt};
  }
  return Fail(ENOENT, "no image named '" + ref + "' (" + normalized + ")");
}

}  // namespace strata::store
