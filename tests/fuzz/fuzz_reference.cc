// Fuzz target: image references and digests as users type them (reference.h, digest.h,
// registry/remote_ref.h), and what registries send and auth files hold (registry/auth.h):
// NormalizeName, ResolveReference against a fixed set of names and ids, ParseDigest,
// ParseRemoteRef, ParseChallenge, CredentialsIn. Oracles beyond the sanitizers: a normalised
// name normalises to itself, a remote reference's name parses back to the same reference, a
// parsed digest prints back as its input, and a resolved reference names one of the images.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "layerstore/digest.h"
#include "layerstore/reference.h"
#include "layerstore/registry/auth.h"
#include "layerstore/registry/remote_ref.h"

namespace {

using strata::store::Digest;

Digest Id(char c) { return Digest{"sha256", std::string(64, c)}; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (auto name = strata::store::NormalizeName(text)) {
    auto again = strata::store::NormalizeName(*name);
    if (!again || *again != *name) {
      std::fprintf(stderr, "normalising '%s' is not stable\n", name->c_str());
      std::abort();
    }
  }
  if (auto remote = strata::store::ParseRemoteRef(text)) {
    auto again = strata::store::ParseRemoteRef(remote->Name());
    if (!again || again->Name() != remote->Name()) {
      std::fprintf(stderr, "remote reference '%s' does not parse back\n", remote->Name().c_str());
      std::abort();
    }
  }
  (void)strata::store::ParseChallenge(text);
  (void)strata::store::CredentialsIn(text, "docker.io");
  if (auto digest = strata::store::ParseDigest(text)) {
    if (digest->String() != text) std::abort();
  }
  static const std::vector<std::pair<std::string, Digest>> names = {
      {"localhost/app:1.0", Id('a')},
      {"docker.io/library/busybox:latest", Id('b')},
      {"quay.io/org/app:1.0", Id('c')},
      {"registry.example:5000/team/app@sha256:" + std::string(64, 'd'), Id('d')}};
  static const std::vector<Digest> ids = {Id('a'), Id('b'), Id('c'), Id('d'),
                                          Digest{"sha256", std::string(63, 'a') + "e"}};
  if (auto resolved = strata::store::ResolveReference(text, names, ids)) {
    bool known = false;
    for (const Digest& id : ids) known = known || id == *resolved;
    if (!known) std::abort();
  }
  return 0;
}
