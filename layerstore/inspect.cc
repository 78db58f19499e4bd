#include "layerstore/inspect.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "fs/base/unique_fd.h"
#include "layerstore/tree_digest.h"

namespace strata::store {

Result<Usage> ComputeUsage(const Store& store) {
  STRATA_ASSIGN_OR_RETURN(auto images, store.ListImages());
  std::map<std::string, int> users;
  for (const auto& image : images) {
    std::set<std::string> once;
    for (const Digest& d : image.diff_ids) once.insert(d.encoded);
    for (const auto& hex : once) ++users[hex];
  }
  Usage usage;
  std::map<std::string, uint64_t> sizes;
  for (const auto& [hex, count] : users) {
    auto layer = store.GetLayer(Digest{"sha256", hex});
    sizes[hex] = layer ? layer->tar_size : 0;
    usage.layers_bytes += sizes[hex];
    struct stat st;
    if (::stat(store.LayerBlobPath(Digest{"sha256", hex}).c_str(), &st) == 0) {
      usage.blobs_bytes += static_cast<uint64_t>(st.st_size);
    }
    ++usage.layers;
  }
  for (const auto& image : images) {
    ImageUsage u{image.id, 0, 0, 0};
    std::set<std::string> once;
    for (const Digest& d : image.diff_ids) once.insert(d.encoded);
    for (const auto& hex : once) {
      u.total += sizes[hex];
      (users[hex] > 1 ? u.shared : u.unique) += sizes[hex];
    }
    usage.images.push_back(u);
  }
  return usage;
}

Result<std::vector<HistoryEntry>> ImageHistory(const Store& store, const Digest& id) {
  using Json = nlohmann::json;
  STRATA_ASSIGN_OR_RETURN(ImageRecord image, store.GetImage(id));
  STRATA_ASSIGN_OR_RETURN(std::string text, store.GetBlob(id));
  Json config = Json::parse(text, nullptr, false);
  if (config.is_discarded() || !config.is_object())
    return Fail(EINVAL, "config: not a JSON object");
  std::vector<HistoryEntry> out;
  size_t layer = 0;
  const Json history = config.value("history", Json::array());
  for (const Json& h : history) {
    if (!h.is_object()) continue;
    HistoryEntry e;
    e.created = h.value("created", "");
    e.created_by = h.value("created_by", "");
    e.comment = h.value("comment", "");
    e.empty_layer = h.value("empty_layer", false);
    if (!e.empty_layer) {
      if (layer >= image.diff_ids.size())
        return Fail(EINVAL, "config history names more layers than the image has");
      e.diff_id = image.diff_ids[layer++];
      if (auto rec = store.GetLayer(e.diff_id)) e.size = rec->tar_size;
    }
    out.push_back(e);
  }
  // Images without history (some tools write none): one entry per layer.
  if (history.empty()) {
    for (const Digest& d : image.diff_ids) {
      HistoryEntry e;
      e.diff_id = d;
      if (auto rec = store.GetLayer(d)) e.size = rec->tar_size;
      out.push_back(e);
    }
  }
  return std::vector<HistoryEntry>(out.rbegin(), out.rend());
}

Result<VerifyReport> VerifyStore(const Store& store) {
  VerifyReport report;
  const std::string blobs = store.root() + "/blobs/sha256";
  if (DIR* d = ::opendir(blobs.c_str())) {
    while (struct dirent* de = ::readdir(d)) {
      const std::string name = de->d_name;
      if (name == "." || name == "..") continue;
      ++report.blobs;
      auto digest = ParseDigest("sha256:" + name);
      if (!digest) {
        report.problems.push_back("blob " + name + ": not a digest name");
        continue;
      }
      UniqueFd fd(::openat(::dirfd(d), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      auto actual = fd ? Sha256OfFd(fd.Get()) : Result<Digest>(FailErrno(name));
      if (!actual || !(*actual == *digest)) {
        report.problems.push_back("blob " + digest->String() +
                                  ": content does not match its digest");
      }
    }
    ::closedir(d);
  }
  STRATA_ASSIGN_OR_RETURN(auto images, store.ListImages());
  std::set<std::string> layers_seen;
  for (const auto& image : images) {
    ++report.images;
    const std::string what = "image " + image.id.String().substr(0, 19);
    if (!store.HasBlob(image.id)) report.problems.push_back(what + ": config blob missing");
    if (!store.HasBlob(image.manifest_digest))
      report.problems.push_back(what + ": manifest blob missing");
    for (const RepoDigest& r : image.repo_digests) {
      if (!store.HasBlob(r.manifest)) {
        report.problems.push_back(what + ": manifest " + r.String() + " missing");
      }
    }
    auto chain = image.diff_ids.empty() ? Result<Digest>(Fail(EINVAL)) : ChainId(image.diff_ids);
    if (!image.diff_ids.empty() &&
        (!chain || image.chain_ids.empty() || !(image.chain_ids.back() == *chain))) {
      report.problems.push_back(what + ": chainIDs do not match its layers");
    }
    for (const Digest& d : image.diff_ids) {
      if (!layers_seen.insert(d.encoded).second) continue;
      ++report.layers;
      struct stat st;
      auto record = store.GetLayer(d);
      if (!record || !(record->diff_id == d)) {
        report.problems.push_back("layer " + d.String() + ": record missing or wrong");
      } else if (::stat(store.LayerDir(d).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        report.problems.push_back("layer " + d.String() + ": tree missing");
      } else if (!record->tree_digest) {
        ++report.layers_unhashed;
      } else {
        UniqueFd blob(::open(store.LayerBlobPath(d).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (!blob) {
          ++report.layers_without_blob;
        } else if (auto hashed = Sha256OfFd(blob.Get());
                   !hashed || !(*hashed == record->blob_digest)) {
          report.problems.push_back("layer " + d.String() + ": kept blob does not match " +
                                    record->blob_digest.String());
        }
        UniqueFd dir(::open(store.LayerDir(d).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        auto tree = dir ? TreeDigest(dir.Get()) : Result<Digest>(FailErrno("open"));
        if (!tree) {
          report.problems.push_back("layer " + d.String() + ": " + tree.error().Message());
        } else if (!(*tree == *record->tree_digest)) {
          report.problems.push_back("layer " + d.String() + ": files changed since import");
        }
      }
    }
  }
  return report;
}

}  // namespace strata::store
