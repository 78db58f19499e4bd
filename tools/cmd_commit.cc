// Content going out: commit (a container's changes into a new image) and save (images into
// files other tools load).
#include <cstdio>

#include "layerstore/export/commit.h"
#include "layerstore/export/save.h"
#include "tools/commands.h"

namespace strata::cli {

int Commit(const Globals& g, const CommitFlags& flags) {
  auto store = store::Store::Open(g.root, store::Store::Lock::kShared);
  if (!store) return Report(store.error());
  store::CommitOptions options;
  options.container = flags.container;
  options.name = flags.name;
  options.message = flags.message;
  options.author = flags.author;
  auto compression = store::ParseCompression(flags.compression);
  if (!compression) return Report(compression.error());
  options.compression = *compression;
  auto committed = store::CommitContainer(*store, options);
  if (!committed) return Report(committed.error());
  if (g.quiet) {
    std::printf("%s\n", committed->image.id.String().c_str());
    return 0;
  }
  std::string names;
  for (const auto& n : committed->image.names) names += " " + n;
  std::printf("Committed %s%s (layer %s: %llu entries, %s %s)\n",
              Short(committed->image.id).c_str(), names.c_str(),
              Short(committed->diff_id).c_str(),
              static_cast<unsigned long long>(committed->entries),
              HumanSize(committed->blob_size).c_str(), flags.compression.c_str());
  return 0;
}

int Save(const Globals& g, const std::vector<std::string>& refs, const std::string& output,
         const std::string& format) {
  auto store = store::Store::Open(g.root, store::Store::Lock::kShared);
  if (!store) return Report(store.error());
  store::SaveOptions options;
  options.refs = refs;
  options.output = output;
  auto parsed = store::ParseSaveFormat(format);
  if (!parsed) return Report(parsed.error());
  options.format = *parsed;
  auto saved = store::SaveImages(*store, options);
  if (!saved) return Report(saved.error());
  if (g.quiet || output == "-") return 0;
  for (const auto& image : *saved) {
    std::string names;
    for (const auto& n : image.names) names += " " + n;
    std::printf("Saved %s%s to %s (%s)\n", Short(image.id).c_str(), names.c_str(),
                output.c_str(), format.c_str());
  }
  return 0;
}

}  // namespace strata::cli
