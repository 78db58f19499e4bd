#include "layerstore/digest.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <array>

namespace strata::store {
namespace {

bool IsAlgorithmComponent(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlgorithmSeparator(char c) { return c == '+' || c == '.' || c == '_' || c == '-'; }
bool IsEncodedChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '=' ||
         c == '_' || c == '-';
}
bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

std::string ToHex(const unsigned char* data, size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 0xf]);
  }
  return out;
}

}  // namespace

Result<Digest> ParseDigest(std::string_view text) {
  const std::string quoted = "digest '" + std::string(text.substr(0, 200)) + "'";
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) return Fail(EINVAL, quoted + ": no ':'");
  const std::string_view algorithm = text.substr(0, colon);
  const std::string_view encoded = text.substr(colon + 1);
  // algorithm-component ([+._-] algorithm-component)*
  bool expect_component = true;
  for (char c : algorithm) {
    if (IsAlgorithmComponent(c)) {
      expect_component = false;
    } else if (IsAlgorithmSeparator(c) && !expect_component) {
      expect_component = true;
    } else {
      return Fail(EINVAL, quoted + ": malformed algorithm");
    }
  }
  if (algorithm.empty() || expect_component) return Fail(EINVAL, quoted + ": malformed algorithm");
  if (encoded.empty()) return Fail(EINVAL, quoted + ": empty encoding");
  for (char c : encoded) {
    if (!IsEncodedChar(c)) return Fail(EINVAL, quoted + ": malformed encoding");
  }
  size_t want;
  if (algorithm == "sha256") {
    want = 64;
  } else if (algorithm == "sha512") {
    want = 128;
  } else {
    return Fail(EINVAL, quoted + ": unsupported algorithm");
  }
  if (encoded.size() != want) {
    return Fail(EINVAL, quoted + ": expected " + std::to_string(want) + " hex digits");
  }
  for (char c : encoded) {
    if (!IsLowerHex(c)) return Fail(EINVAL, quoted + ": encoding is not lowercase hex");
  }
  return Digest{std::string(algorithm), std::string(encoded)};
}

struct Sha256::Impl {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr);
}
Sha256::~Sha256() = default;

void Sha256::Update(const void* data, size_t size) { EVP_DigestUpdate(impl_->ctx, data, size); }

Digest Sha256::Finish() {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md;
  unsigned int len = 0;
  EVP_DigestFinal_ex(impl_->ctx, md.data(), &len);
  return Digest{"sha256", ToHex(md.data(), len)};
}

Digest Sha256Of(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.Finish();
}

Result<Digest> Sha256OfFd(int fd) {
  Sha256 h;
  std::array<char, 1 << 16> buf;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return FailErrno("read");
    }
    if (n == 0) break;
    h.Update(buf.data(), static_cast<size_t>(n));
  }
  return h.Finish();
}

Result<Digest> ChainId(const std::vector<Digest>& diff_ids) {
  if (diff_ids.empty()) return Fail(EINVAL, "chainID of no layers");
  Digest chain = diff_ids[0];
  for (size_t i = 1; i < diff_ids.size(); ++i) {
    chain = Sha256Of(chain.String() + " " + diff_ids[i].String());
  }
  return chain;
}

}  // namespace strata::store
