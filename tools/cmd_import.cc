// Bringing content in: import, and the digest primitives.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <functional>

#include "fs/base/unique_fd.h"
#include "tools/commands.h"

namespace strata::cli {

using store::Digest;
using store::Store;

namespace {

// Progress on a terminal only: a line per layer, with bytes and rate once it is done.
std::function<void(const store::LayerProgress&)> LayerPrinter(const Globals& g,
                                                               const char* fetching) {
  if (g.quiet || !::isatty(STDERR_FILENO)) return nullptr;
  return [fetching](const store::LayerProgress& p) {
    if (!p.done) {
      std::fprintf(stderr, "%s layer %zu/%zu %s", p.extracting ? fetching : "Already exists",
                   p.index + 1, p.count, Short(p.diff_id).c_str());
    } else if (p.extracting) {
      const double rate = p.seconds > 0 ? static_cast<double>(p.bytes) / p.seconds : 0;
      std::fprintf(stderr, "  %s in %.2f s (%s/s)\n", HumanSize(p.bytes).c_str(), p.seconds,
                   HumanSize(static_cast<uint64_t>(rate)).c_str());
    } else {
      std::fprintf(stderr, "\n");
    }
  };
}

int PrintImages(const Globals& g, const std::vector<store::ImportedImage>& images,
                const char* verb) {
  for (const auto& image : images) {
    std::string names;
    for (const auto& n : image.names) names += " " + n;
    if (g.quiet) {
      std::printf("%s\n", image.id.String().c_str());
    } else {
      std::printf("%s %s%s (%zu layers extracted, %zu reused)\n", verb, Short(image.id).c_str(),
                  names.c_str(), image.layers_extracted, image.layers_reused);
    }
  }
  return 0;
}

}  // namespace

int Import(const Globals& g, const std::string& source, strata::store::ImportOptions options) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  options.on_layer = LayerPrinter(g, "Extracting    ");
  auto images = strata::store::ImportImage(*store, source, options);
  if (!images) return Report(images.error());
  return PrintImages(g, *images, "Imported");
}

int Pull(const Globals& g, const std::string& ref, strata::store::PullOptions options) {
  auto store = Store::Open(g.root, Store::Lock::kShared);
  if (!store) return Report(store.error());
  options.import.on_layer = LayerPrinter(g, "Pulling       ");
  auto images = strata::store::PullImage(*store, ref, options);
  if (!images) return Report(images.error());
  return PrintImages(g, *images, "Pulled");
}
int DigestFiles(const std::vector<std::string>& files) {
  int rc = 0;
  for (const std::string& path : files) {
    strata::UniqueFd fd(path == "-" ? dup(STDIN_FILENO) : open(path.c_str(), O_RDONLY | O_CLOEXEC));
    auto digest =
        fd ? strata::store::Sha256OfFd(fd.Get()) : Result<Digest>(strata::FailErrno(path));
    if (!digest) {
      rc = Report(digest.error());
      continue;
    }
    std::printf("%s  %s\n", digest->String().c_str(), path.c_str());
  }
  return rc;
}

int ChainIdOf(const std::vector<std::string>& diff_ids) {
  std::vector<Digest> parsed;
  for (const std::string& text : diff_ids) {
    auto d = strata::store::ParseDigest(text);
    if (!d) return Report(d.error());
    parsed.push_back(*d);
  }
  auto chain = strata::store::ChainId(parsed);
  if (!chain) return Report(chain.error());
  std::printf("%s\n", chain->String().c_str());
  return 0;
}

}  // namespace strata::cli
