// Fuzz target: an OCI image layout built from the input and imported into a fresh store
// (oci_import.h): the index, manifest and config parsers and every rule they check. The input
// is up to four parts separated by a line "--": index.json, a manifest, a config and a layer
// blob. So that mutations get past the digest checks, the placeholders @LAYER@, @DIFF@,
// @CONFIG@, @MANIFEST@ (and @LAYER_SIZE@, @CONFIG_SIZE@, @MANIFEST_SIZE@) are replaced by
// the digests (and sizes) of those parts as written (@DIFF@ by the layer's uncompressed
// sha256). Oracle beyond the sanitizers: an image that imported is listed by the store.
// STRATA_FUZZ_TRACE=1 prints what the import said of each input.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "layerstore/digest.h"
#include "layerstore/import/layer_stream.h"
#include "layerstore/import/oci_import.h"
#include "layerstore/store.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using strata::store::Digest;

std::vector<std::string> Split(const std::string& in) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (parts.size() < 3) {
    const size_t at = in.find("\n--\n", pos);
    if (at == std::string::npos) break;
    parts.push_back(in.substr(pos, at - pos));
    pos = at + 4;
  }
  parts.push_back(in.substr(pos));
  parts.resize(4);
  return parts;
}

void Replace(std::string* s, const std::string& from, const std::string& to) {
  for (size_t at = s->find(from); at != std::string::npos; at = s->find(from, at + to.size())) {
    s->replace(at, from.size(), to);
  }
}

Digest Sha(const std::string& data) {
  strata::store::Sha256 h;
  h.Update(data);
  return h.Finish();
}

// The layer's uncompressed sha256 (its diffID when it is a tar), else its own sha256.
Digest DiffId(const std::string& layer) {
  const int fd = strata::fuzz::MemFile(reinterpret_cast<const uint8_t*>(layer.data()), layer.size());
  Digest d = Sha(layer);
  if (auto stream = strata::store::LayerStream::Open(fd); stream && (*stream)->Drain()) {
    d = (*stream)->DiffId();
  }
  ::close(fd);
  return d;
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
  if (!out) std::abort();
}

void WriteBlob(const std::string& layout, const Digest& d, const std::string& data) {
  WriteFile(layout + "/blobs/sha256/" + d.encoded, data);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static int run = 0;
  const std::string box = strata::fuzz::Scratch() + "/oci" + std::to_string(run++);
  const std::string layout = box + "/layout";
  for (const std::string& d : {box, layout, layout + "/blobs", layout + "/blobs/sha256"}) {
    if (::mkdir(d.c_str(), 0755) != 0) std::abort();
  }
  std::vector<std::string> parts = Split(std::string(reinterpret_cast<const char*>(data), size));
  std::string& index = parts[0];
  std::string& manifest = parts[1];
  std::string& config = parts[2];
  const std::string& layer = parts[3];

  const Digest layer_digest = Sha(layer);
  Replace(&config, "@DIFF@", DiffId(layer).String());
  const Digest config_digest = Sha(config);
  Replace(&manifest, "@CONFIG@", config_digest.String());
  Replace(&manifest, "@CONFIG_SIZE@", std::to_string(config.size()));
  Replace(&manifest, "@LAYER@", layer_digest.String());
  Replace(&manifest, "@LAYER_SIZE@", std::to_string(layer.size()));
  const Digest manifest_digest = Sha(manifest);
  Replace(&index, "@MANIFEST@", manifest_digest.String());
  Replace(&index, "@MANIFEST_SIZE@", std::to_string(manifest.size()));

  WriteFile(layout + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  WriteFile(layout + "/index.json", index);
  WriteBlob(layout, layer_digest, layer);
  WriteBlob(layout, config_digest, config);
  WriteBlob(layout, manifest_digest, manifest);

  {
    auto store = strata::store::Store::Open(box + "/store", strata::store::Store::Lock::kExclusive);
    if (!store) std::abort();
    strata::store::ImportOptions options;
    options.name = "fuzz:latest";
    auto imported = strata::store::ImportImage(*store, layout, options);
    if (std::getenv("STRATA_FUZZ_TRACE") != nullptr) {  // why an input was refused
      std::fprintf(stderr, "import: %s\n",
                   imported ? "ok" : imported.error().Message().c_str());
    }
    if (imported) {
      auto images = store->ListImages();
      if (!images || images->empty()) {
        std::fprintf(stderr, "an imported image is not in the store\n");
        std::abort();
      }
    }
  }
  strata::fuzz::RemoveTree(box);
  return 0;
}
