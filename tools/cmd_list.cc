// Listings as podman prints them: images, history, inspect, image tree (format.h for
// --format templates and tables).
#include <fnmatch.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>

#include "layerstore/image_ops.h"
#include "layerstore/inspect.h"
#include "layerstore/reference.h"
#include "tools/commands.h"

namespace strata::cli {
namespace {

using store::Digest;
using store::ImageRecord;
using store::Store;
using Json = nlohmann::json;

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

// Prints ROWS through FORMAT (a template; "table ..." with a header unless NOHEADING).
int PrintRows(const std::string& format, const std::vector<Json>& rows,
              const std::map<std::string, std::string>& headers, bool noheading) {
  auto t = Template::Parse(format);
  if (!t) return Report(t.error());
  std::vector<std::string> lines;
  if (t->table() && !noheading) lines.push_back(t->Header(headers));
  for (const Json& row : rows) {
    auto line = t->Render(row);
    if (!line) return Report(line.error());
    lines.push_back(*line);
  }
  if (t->table()) {
    std::fputs(AlignColumns(lines).c_str(), stdout);
  } else {
    for (const std::string& l : lines) std::printf("%s\n", l.c_str());
  }
  return 0;
}

struct Filter {
  std::string key, value;
};

Result<std::vector<Filter>> ParseFilters(const std::vector<std::string>& given) {
  std::vector<Filter> out;
  for (const std::string& f : given) {
    const size_t eq = f.find('=');
    const std::string key = f.substr(0, eq);
    if (eq == std::string::npos ||
        (key != "dangling" && key != "reference" && key != "before" && key != "since")) {
      return Fail(EINVAL, "filter '" + f +
                              "': expected dangling=true|false, reference=PATTERN, before=IMAGE "
                              "or since=IMAGE");
    }
    out.push_back({key, f.substr(eq + 1)});
  }
  return out;
}

// Whether NAME (normalised) matches PATTERN as podman's reference filter does: the whole name,
// its repository, or either without the registry.
bool ReferenceMatches(const std::string& pattern, const std::string& name) {
  const std::string repo = store::RepositoryOf(name);
  std::vector<std::string> candidates = {name, repo};
  if (const size_t slash = name.find('/'); slash != std::string::npos) {
    candidates.push_back(name.substr(slash + 1));
    candidates.push_back(repo.substr(slash + 1));
    if (name.starts_with("docker.io/library/")) {
      candidates.push_back(name.substr(18));
      candidates.push_back(repo.substr(18));
    }
  }
  for (const std::string& c : candidates) {
    if (::fnmatch(pattern.c_str(), c.c_str(), 0) == 0) return true;
  }
  return false;
}

}  // namespace

int Images(const Globals& g, const ImagesFlags& flags) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  auto images = store->ListImages();
  if (!images) return Report(images.error());
  auto names = store->ListNames();
  if (!names) return Report(names.error());
  auto usage = store::ComputeUsage(*store);
  if (!usage) return Report(usage.error());
  auto filters = ParseFilters(flags.filters);
  if (!filters) return Report(filters.error());

  // Filters on times compare with the image another filter names.
  std::map<std::string, int64_t> created_of;
  for (const Filter& f : *filters) {
    if (f.key != "before" && f.key != "since") continue;
    auto id = Resolve(*store, f.value);
    if (!id) return Report(id.error());
    auto image = store->GetImage(*id);
    if (!image) return Report(image.error());
    created_of[f.key] = ParseTimeNs(image->created);
  }

  struct Row {
    const ImageRecord* image;
    std::string name;  // "" for an unnamed image
    uint64_t size;
  };
  std::vector<Row> rows;
  for (const ImageRecord& image : *images) {
    std::vector<std::string> image_names;
    for (const auto& [name, id] : *names) {
      if (id == image.id) image_names.push_back(name);
    }
    uint64_t size = 0;
    for (const auto& u : usage->images) size = u.id == image.id ? u.total : size;
    bool keep = true;
    for (const Filter& f : *filters) {
      const int64_t created = ParseTimeNs(image.created);
      if (f.key == "dangling") keep &= (f.value == "true") == image_names.empty();
      if (f.key == "before") keep &= created < created_of["before"];
      if (f.key == "since") keep &= created > created_of["since"];
    }
    if (!keep) continue;
    std::vector<std::string> shown;
    for (const std::string& n : image_names) {
      bool match = true;
      for (const Filter& f : *filters) {
        if (f.key == "reference") match &= ReferenceMatches(f.value, n);
      }
      if (match) shown.push_back(n);
    }
    const bool by_reference = std::any_of(filters->begin(), filters->end(),
                                          [](const Filter& f) { return f.key == "reference"; });
    if (shown.empty() && (by_reference || !image_names.empty())) continue;
    if (shown.empty()) shown.push_back("");
    for (const std::string& n : shown) rows.push_back({&image, n, size});
  }
  const std::string& sort = flags.sort;
  std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
    if (sort == "id") return a.image->id.encoded < b.image->id.encoded;
    if (sort == "size") return a.size > b.size;
    if (sort == "repository" || sort == "tag") {
      const std::string ra = store::RepositoryOf(a.name), rb = store::RepositoryOf(b.name);
      const std::string ta = a.name.substr(ra.size()), tb = b.name.substr(rb.size());
      return sort == "repository" ? std::tie(ra, ta) < std::tie(rb, tb)
                                  : std::tie(ta, ra) < std::tie(tb, rb);
    }
    return ParseTimeNs(a.image->created) > ParseTimeNs(b.image->created);  // newest first
  });

  if (flags.quiet) {
    std::vector<std::string> seen;
    for (const Row& r : rows) {
      const std::string id = flags.no_trunc ? r.image->id.String() : Short(r.image->id);
      if (std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
      seen.push_back(id);
      std::printf("%s\n", id.c_str());
    }
    return 0;
  }
  if (flags.format == "json") {
    Json out = Json::array();
    std::vector<const ImageRecord*> done;
    for (const Row& r : rows) {
      if (std::find(done.begin(), done.end(), r.image) != done.end()) continue;
      done.push_back(r.image);
      Json image_names = Json::array(), repo_digests = Json::array();
      for (const auto& [name, id] : *names) {
        if (id == r.image->id) image_names.push_back(name);
      }
      for (const auto& rd : r.image->repo_digests) {
        if (!rd.repository.empty()) repo_digests.push_back(rd.String());
      }
      const ImageRecord& image = *r.image;
      out.push_back({{"id", image.id.String()},
                     {"names", image_names},
                     {"digest", image.manifest_digest.String()},
                     {"repo_digests", repo_digests},
                     {"created", image.created},
                     {"size", r.size},
                     {"layers", image.diff_ids.size()},
                     {"platform", image.os + "/" + image.architecture +
                                      (image.variant.empty() ? "" : "/" + image.variant)}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::vector<Json> out;
  const int64_t now = Now();
  for (const Row& r : rows) {
    const ImageRecord& image = *r.image;
    const std::string repo = r.name.empty() ? "<none>" : store::RepositoryOf(r.name);
    const std::string tag = r.name.empty() ? "<none>" : r.name.substr(repo.size() + 1);
    // The digest it was received with under this repository (else the latest received).
    Digest digest = image.manifest_digest;
    for (const auto& rd : image.repo_digests) {
      if (rd.repository == repo) digest = rd.manifest;
    }
    Json names_json = Json::array();
    for (const auto& [name, id] : *names) {
      if (id == image.id) names_json.push_back(name);
    }
    out.push_back({{"ID", flags.no_trunc ? image.id.String() : Short(image.id)},
                   {"Id", image.id.String()},
                   {"Repository", repo},
                   {"Tag", tag},
                   {"Digest", digest.String()},
                   {"Created", HumanAgo(image.created, now)},
                   {"CreatedSince", HumanAgo(image.created, now)},
                   {"CreatedAt", image.created},
                   {"Size", HumanSize(r.size)},
                   {"Names", names_json},
                   {"Layers", image.diff_ids.size()},
                   {"Platform", image.os + "/" + image.architecture +
                                    (image.variant.empty() ? "" : "/" + image.variant)}});
  }
  std::string format = flags.format;
  if (format.empty()) {
    format = std::string("table {{.Repository}}\\t{{.Tag}}\\t") +
             (flags.digests ? "{{.Digest}}\\t" : "") + "{{.ID}}\\t{{.Created}}\\t{{.Size}}";
  }
  return PrintRows(format, out,
                   {{"ID", "IMAGE ID"},
                    {"CreatedSince", "CREATED"},
                    {"CreatedAt", "CREATED AT"},
                    {"Id", "IMAGE ID"}},
                   flags.noheading);
}

int History(const Globals& g, const std::string& ref, const HistoryFlags& flags) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  auto id = Resolve(*store, ref);
  if (!id) return Report(id.error());
  auto history = store::ImageHistory(*store, *id);
  if (!history) return Report(history.error());
  if (flags.format == "json") {
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
  std::vector<Json> rows;
  const int64_t now = Now();
  for (const auto& h : *history) {
    const std::string layer = h.empty_layer ? "<missing>"
                              : flags.no_trunc ? h.diff_id.String()
                                               : Short(h.diff_id);
    if (flags.quiet) {
      std::printf("%s\n", layer.c_str());
      continue;
    }
    std::string by = h.created_by;
    if (!flags.no_trunc && by.size() > 45) by = by.substr(0, 42) + "...";
    const std::string size = flags.human ? HumanSize(h.size) : std::to_string(h.size);
    const std::string created = flags.human ? HumanAgo(h.created, now) : h.created;
    rows.push_back({{"ID", layer},
                    {"Created", created},
                    {"CreatedAt", h.created},
                    {"CreatedBy", by},
                    {"Size", size},
                    {"Comment", h.comment}});
  }
  if (flags.quiet) return 0;
  const std::string format =
      flags.format.empty()
          ? "table {{.ID}}\\t{{.Created}}\\t{{.CreatedBy}}\\t{{.Size}}\\t{{.Comment}}"
          : flags.format;
  return PrintRows(format, rows,
                   {{"ID", "LAYER"},
                    {"CreatedBy", "CREATED BY"},
                    {"CreatedAt", "CREATED AT"}},
                   flags.noheading);
}

int Inspect(const Globals& g, const std::string& ref, const InspectFlags& flags) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  auto resolved = store::ResolveImage(*store, ref);
  if (!resolved) return Report(resolved.error());
  auto image = store->GetImage(resolved->id);
  if (!image) return Report(image.error());
  if (flags.config || flags.raw) {
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
    auto blob = store->GetBlob(flags.config ? image->id : manifest);
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
              {"variant", image->variant}, {"created", image->created},
              {"layers", layers},          {"repo_tags", tags},
              {"repo_digests", repo_digests}};
  if (auto config = store->GetBlob(image->id)) {
    Json c = Json::parse(*config, nullptr, false);
    if (c.is_object() && c.contains("config")) out["config"] = c["config"];
  }
  if (!flags.format.empty()) return PrintRows(flags.format, {out}, {}, true);
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

int ImageTree(const Globals& g, const std::string& ref) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  auto id = Resolve(*store, ref);
  if (!id) return Report(id.error());
  auto image = store->GetImage(*id);
  if (!image) return Report(image.error());
  auto images = store->ListImages();
  if (!images) return Report(images.error());
  auto names = store->ListNames();
  if (!names) return Report(names.error());
  auto names_of = [&](const Digest& of) {
    std::string out;
    for (const auto& [name, nid] : *names) {
      if (nid == of) out += (out.empty() ? "" : " ") + name;
    }
    return out.empty() ? std::string("<none>") : out;
  };
  uint64_t total = 0;
  std::vector<uint64_t> sizes;
  for (const Digest& d : image->diff_ids) {
    auto rec = store->GetLayer(d);
    sizes.push_back(rec ? rec->tar_size : 0);
    total += sizes.back();
  }
  std::printf("Image ID: %s\nTags:     [%s]\nSize:     %s\nImage Layers\n", Short(*id).c_str(),
              names_of(*id).c_str(), HumanSize(total).c_str());
  for (size_t i = 0; i < image->diff_ids.size(); ++i) {
    // The images this layer is the top of (they share everything up to here).
    std::string top_of;
    for (const ImageRecord& other : *images) {
      if (!other.chain_ids.empty() && other.chain_ids.back() == image->chain_ids[i]) {
        top_of += (top_of.empty() ? "" : " ") + names_of(other.id);
      }
    }
    std::printf("%s ID: %s Size: %s%s\n", i + 1 == image->diff_ids.size() ? "└──" : "├──",
                Short(image->diff_ids[i]).c_str(), HumanSize(sizes[i]).c_str(),
                top_of.empty() ? "" : (" Top Layer of: [" + top_of + "]").c_str());
  }
  return 0;
}

}  // namespace strata::cli
