// Content going out: commit (a container's changes into a new image), save (images into
// files other tools load) and push (to a registry).
#include <unistd.h>

#include <cstdio>

#include "layerstore/export/commit.h"
#include "layerstore/export/save.h"
#include "layerstore/registry/push.h"
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

int Push(const Globals& g, const std::string& ref, const std::string& destination,
         bool tls_verify) {
  auto store = store::Store::Open(g.root, store::Store::Lock::kShared);
  if (!store) return Report(store.error());
  store::PushOptions options;
  options.registry.tls_verify = tls_verify;
  if (!g.quiet && ::isatty(STDERR_FILENO)) {
    options.on_blob = [](const store::BlobProgress& p) {
      using Outcome = store::BlobProgress::Outcome;
      const char* kind = p.index + 1 == p.count ? "config" : "layer ";
      if (p.outcome == Outcome::kPending) {
        std::fprintf(stderr, "%s %zu/%zu %s", kind, p.index + 1, p.count, Short(p.digest).c_str());
      } else if (p.outcome == Outcome::kExists) {
        std::fprintf(stderr, "  already exists\n");
      } else if (p.outcome == Outcome::kMounted) {
        std::fprintf(stderr, "  mounted from %s\n", p.mounted_from.c_str());
      } else {
        const double rate = p.seconds > 0 ? static_cast<double>(p.size) / p.seconds : 0;
        std::fprintf(stderr, "  %s in %.2f s (%s/s)\n", HumanSize(p.size).c_str(), p.seconds,
                     HumanSize(static_cast<uint64_t>(rate)).c_str());
      }
    };
  }
  auto pushed = store::PushImage(*store, ref, destination, options);
  if (!pushed) return Report(pushed.error());
  if (g.quiet) {
    std::printf("%s\n", pushed->manifest_digest.String().c_str());
  } else {
    std::printf("Pushed %s@%s (%zu blobs uploaded, %zu mounted, %zu already there)\n",
                pushed->destination.c_str(), pushed->manifest_digest.String().c_str(),
                pushed->uploaded, pushed->mounted, pushed->existed);
  }
  return 0;
}

}  // namespace strata::cli
