// Content digests: the identity of blobs and layers (OpenSSL sha256; never xxHash).
//
// A digest string is "algorithm:encoded" (OCI image-spec descriptor.md). ParseDigest checks the
// grammar and, for the algorithms we support, the exact encoding, before any digest is used to
// build a path. Stateless functions are thread-safe; a Sha256 object is not shared.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fs/base/status.h"

namespace strata::store {

struct Digest {
  std::string algorithm;  // "sha256" or "sha512"
  std::string encoded;    // lowercase hex of the right length
  std::string String() const { return algorithm + ":" + encoded; }
  friend bool operator==(const Digest&, const Digest&) = default;
};

// Errors: EINVAL with a message naming the problem (grammar, unsupported algorithm, length,
// non-lowercase-hex encoding).
Result<Digest> ParseDigest(std::string_view text);

// Incremental sha256.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, size_t size);
  void Update(std::string_view data) { Update(data.data(), data.size()); }
  // The digest of everything given; the object must not be used afterwards.
  Digest Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

Digest Sha256Of(std::string_view data);

// Hashes everything readable from FD (from its current offset). Errors: errno of read(2).
Result<Digest> Sha256OfFd(int fd);

// OCI chainID of a layer stack, bottom layer first:
// chain(0) = diffID(0); chain(n) = sha256(chain(n-1) + " " + diffID(n)).
// Errors: EINVAL for an empty list.
Result<Digest> ChainId(const std::vector<Digest>& diff_ids);

}  // namespace strata::store
