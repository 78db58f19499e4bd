// strata: the companion tool. This first version offers the digest primitives the layer store
// is built on; image import, listing and mounting come with the store.
#include <fcntl.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "fs/base/unique_fd.h"
#include "layerstore/digest.h"

namespace {

int Digest(const std::vector<std::string>& files) {
  int rc = 0;
  for (const std::string& path : files) {
    strata::UniqueFd fd(path == "-" ? dup(STDIN_FILENO) : open(path.c_str(), O_RDONLY | O_CLOEXEC));
    auto digest = fd ? strata::store::Sha256OfFd(fd.Get())
                     : strata::Result<strata::store::Digest>(strata::FailErrno());
    if (!digest) {
      std::fprintf(stderr, "strata: %s: %s\n", path.c_str(), digest.error().Message().c_str());
      rc = 1;
      continue;
    }
    std::printf("%s  %s\n", digest->String().c_str(), path.c_str());
  }
  return rc;
}

int ChainId(const std::vector<std::string>& diff_ids) {
  std::vector<strata::store::Digest> parsed;
  for (const std::string& text : diff_ids) {
    auto d = strata::store::ParseDigest(text);
    if (!d) {
      std::fprintf(stderr, "strata: %s\n", d.error().context.c_str());
      return 1;
    }
    parsed.push_back(*d);
  }
  auto chain = strata::store::ChainId(parsed);
  if (!chain) {
    std::fprintf(stderr, "strata: %s\n", chain.error().context.c_str());
    return 1;
  }
  std::printf("%s\n", chain->String().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"strata: container image layers, content-addressed"};
  app.set_version_flag("-V,--version", "strata " STRATA_VERSION);
  app.require_subcommand(1);

  std::vector<std::string> files;
  auto* digest = app.add_subcommand("digest", "Print the sha256 digest of files ('-' = stdin)");
  digest->add_option("FILE", files, "files to hash")->required();

  std::vector<std::string> diff_ids;
  auto* chain = app.add_subcommand("chainid", "Print the OCI chainID of layer diffIDs, bottom first");
  chain->add_option("DIFFID", diff_ids, "sha256:... layer diffIDs, bottom layer first")->required();

  CLI11_PARSE(app, argc, argv);
  if (*digest) return Digest(files);
  if (*chain) return ChainId(diff_ids);
  return 1;
}
