// Listing and managing images: images, inspect, history, tag, rm, prune, df, verify.
#include <algorithm>
#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "layerstore/image_ops.h"
#include "layerstore/inspect.h"
#include "layerstore/reference.h"
#include "tools/commands.h"

namespace strata::cli {
namespace {

using store::Digest;
using store::Store;
using Json = nlohmann::json;

}  // namespace

int Images(const Globals& g, const std::string& format, bool ids_only) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  auto images = store->ListImages();
  if (!images) return Report(images.error());
  auto names = store->ListNames();
  if (!names) return Report(names.error());
  auto usage = store::ComputeUsage(*store);
  if (!usage) return Report(usage.error());
  Json rows = Json::array();
  // The table: columns as wide as their widest cell.
  std::vector<std::array<std::string, 5>> table = {
      {"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"}};
  for (const auto& image : *images) {
    std::vector<std::string> image_names;
    for (const auto& [name, id] : *names) {
      if (id == image.id) image_names.push_back(name);
    }
    if (ids_only) {
      std::printf("%s\n", Short(image.id).c_str());
      continue;
    }
    uint64_t size = 0;
    for (const auto& u : usage->images) size = u.id == image.id ? u.total : size;
    if (format == "json") {
      rows.push_back({{"id", image.id.String()},
                      {"names", image_names},
                      {"created", image.created},
                      {"size", size},
                      {"layers", image.diff_ids.size()},
                      {"platform", image.os + "/" + image.architecture +
                                       (image.variant.empty() ? "" : "/" + image.variant)}});
      continue;
    }
    if (image_names.empty()) image_names.push_back("<none>:<none>");
    for (const std::string& n : image_names) {
      const size_t colon = n.rfind(':');
      table.push_back({n.substr(0, colon), n.substr(colon + 1), Short(image.id),
                       image.created.substr(0, 19), HumanSize(size)});
    }
  }
  if (format == "json") {
    std::printf("%s\n", rows.dump(2).c_str());
  } else if (!ids_only) {
    std::array<size_t, 5> width{};
    for (const auto& row : table) {
      for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
    }
    for (const auto& row : table) {
      std::printf("%-*s   %-*s   %-*s   %-*s   %s\n", static_cast<int>(width[0]), row[0].c_str(),
                  static_cast<int>(width[1]), row[1].c_str(), static_cast<int>(width[2]),
                  row[2].c_str(), static_cast<int>(width[3]), row[3].c_str(), row[4].c_str());
    }
  }
  return 0;
}

int Inspect(const Globals& g, const std::string& ref, bool config, bool raw) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  auto resolved = store::ResolveImage(*store, ref);
  if (!resolved) return Report(resolved.error());
  auto image = store->GetImage(resolved->id);
  if (!image) return Report(image.error());
  if (config || raw) {
    // The manifest REF names (NAME@sha256:...), else the newest received under REF's
    // repository, else the newest received.
    Digest manifest = image->manifest_digest;
    if (resolved->manifest) {
      manifest = *resolved->manifest;
    } else if (!resolved->name.empty()) {
      for (const auto& r : image->repo_digests) {
        if (r.repository == store::RepositoryOf(resolved->name)) manifest = r.manifest;
      }
    }
    auto blob = store->GetBlob(config ? image->id : manifest);
    if (!blob) return Report(blob.error());
    std::fwrite(blob->data(), 1, blob->size(), stdout);
    return 0;
  }
  Json layers = Json::array();
  for (size_t i = 0; i < image->diff_ids.size(); ++i) {
    Json l = {{"diff_id", image->diff_ids[i].String()},
              {"chain_id", image->chain_ids[i].String()},
              {"path", store->LayerDir(image->diff_ids[i])}};
    if (auto rec = store->GetLayer(image->diff_ids[i])) {
      l["blob_digest"] = rec->blob_digest.String();
      l["compression"] = rec->compression;
      l["size"] = rec->tar_size;
    }
    layers.push_back(l);
  }
  Json tags = Json::array(), repo_digests = Json::array();
  if (auto names = store->ListNames()) {
    for (const auto& [name, id] : *names) {
      if (id == image->id) tags.push_back(name);
    }
  }
  for (const auto& r : image->repo_digests) {
    if (!r.repository.empty()) repo_digests.push_back(r.String());
  }
  Json out = {{"id", image->id.String()},  {"manifest_digest", image->manifest_digest.String()},
              {"os", image->os},           {"architecture", image->architecture},
              {"created", image->created}, {"layers", layers},
              {"repo_tags", tags},         {"repo_digests", repo_digests}};
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

int Remove(const Globals& g, const std::vector<std::string>& refs) {
  auto store = Store::Open(g.root, Store::Lock::kExclusive);
  if (!store) return Report(store.error());
  for (const std::string& ref : refs) {
    auto removal = store::RemoveReference(*store, ref);
    if (!removal) return Report(removal.error());
    if (removal->image_removed) {
      std::printf("Deleted %s\n", removal->id.String().c_str());
    } else {
      std::printf("Untagged %s\n", removal->untagged.c_str());
    }
  }
  auto removed = store->CollectGarbage();
  if (!removed) return Report(removed.error());
  return 0;
}

int Prune(const Globals& g) {
  auto store = Store::Open(g.root, Store::Lock::kExclusive);
  if (!store) return Report(store.error());
  auto images = store::RemoveUnnamedImages(*store);
  if (!images) return Report(images.error());
  for (const Digest& id : *images) std::printf("Deleted image %s\n", id.String().c_str());
  auto removed = store->CollectGarbage();
  if (!removed) return Report(removed.error());
  for (const auto& r : *removed) std::printf("Deleted %s\n", r.c_str());
  return 0;
}

int Tag(const Globals& g, const std::string& ref, const std::string& name) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  auto id = Resolve(*store, ref);
  if (!id) return Report(id.error());
  auto normalized = store::NormalizeName(name);
  if (!normalized) return Report(normalized.error());
  Status s = store->SetName(*normalized, *id);
  if (!s) return Report(s.error());
  return 0;
}

int History(const Globals& g, const std::string& ref, const std::string& format) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  auto id = Resolve(*store, ref);
  if (!id) return Report(id.error());
  auto history = store::ImageHistory(*store, *id);
  if (!history) return Report(history.error());
  if (format == "json") {
    Json rows = Json::array();
    for (const auto& h : *history) {
      rows.push_back({{"created", h.created},
                      {"created_by", h.created_by},
                      {"comment", h.comment},
                      {"empty_layer", h.empty_layer},
                      {"size", h.size},
                      {"diff_id", h.empty_layer ? "" : h.diff_id.String()}});
    }
    std::printf("%s\n", rows.dump(2).c_str());
    return 0;
  }
  std::printf("%-14s %-22s %-50s %10s\n", "LAYER", "CREATED", "CREATED BY", "SIZE");
  for (const auto& h : *history) {
    std::string by = h.created_by.substr(0, 50);
    std::printf("%-14s %-22s %-50s %10s\n",
                h.empty_layer ? "<empty layer>" : Short(h.diff_id).c_str(),
                h.created.substr(0, 19).c_str(), by.c_str(),
                h.empty_layer ? "0 B" : HumanSize(h.size).c_str());
  }
  return 0;
}

int DiskUsage(const Globals& g, const std::string& format) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  auto usage = store::ComputeUsage(*store);
  if (!usage) return Report(usage.error());
  if (format == "json") {
    Json images = Json::array();
    for (const auto& u : usage->images) {
      images.push_back(
          {{"id", u.id.String()}, {"size", u.total}, {"shared", u.shared}, {"unique", u.unique}});
    }
    Json out = {
        {"images", images}, {"layers", usage->layers}, {"layers_size", usage->layers_bytes}};
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("%-14s %12s %12s %12s\n", "IMAGE ID", "SIZE", "SHARED", "UNIQUE");
  for (const auto& u : usage->images) {
    std::printf("%-14s %12s %12s %12s\n", Short(u.id).c_str(), HumanSize(u.total).c_str(),
                HumanSize(u.shared).c_str(), HumanSize(u.unique).c_str());
  }
  std::printf("%zu layers stored once: %s\n", usage->layers,
              HumanSize(usage->layers_bytes).c_str());
  return 0;
}

int Verify(const Globals& g) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  auto report = store::VerifyStore(*store);
  if (!report) return Report(report.error());
  for (const std::string& p : report->problems) std::fprintf(stderr, "strata: %s\n", p.c_str());
  std::printf("%zu blobs, %zu layers, %zu images: %s\n", report->blobs, report->layers,
              report->images, report->problems.empty() ? "ok" : "CORRUPT");
  if (report->layers_unhashed) {
    std::printf("(%zu layers imported by an older strata have no tree digest: not re-hashed)\n",
                report->layers_unhashed);
  }
  if (report->layers_without_blob) {
    std::printf("(%zu layers stored by an older strata keep no blob: their images cannot be "
                "saved or pushed until imported or pulled again)\n",
                report->layers_without_blob);
  }
  return report->problems.empty() ? 0 : 1;
}

}  // namespace strata::cli
