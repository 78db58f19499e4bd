#include "tests/support/token_server.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

namespace strata::testing {
namespace {

std::string Base64(const unsigned char* data, size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string Base64Url(const std::string& data) {
  std::string s = Base64(reinterpret_cast<const unsigned char*>(data.data()), data.size());
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::string UrlDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

}  // namespace

TokenServer::TokenServer(const std::string& dir, std::string user, std::string password)
    : user_(std::move(user)), password_(std::move(password)) {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  X509* cert = X509_new();
  if (!key || !cert) {
    error_ = "cannot make a key and certificate";
    return;
  }
  key_ = key;
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("strata-token"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_sign(cert, key, EVP_sha256());
  cert_path_ = dir + "/token-cert.pem";
  if (FILE* f = std::fopen(cert_path_.c_str(), "w")) {
    PEM_write_X509(f, cert);
    std::fclose(f);
  }
  unsigned char* der = nullptr;
  const int der_len = i2d_X509(cert, &der);
  cert_der_base64_ = Base64(der, static_cast<size_t>(der_len));
  OPENSSL_free(der);
  X509_free(cert);
  server_ = std::make_unique<ScriptedServer>([this](const SeenRequest& r) { return Issue(r); });
  ok_ = server_->ok();
  if (!ok_) error_ = "cannot listen on the loopback";
}

TokenServer::~TokenServer() {
  server_.reset();  // joins the serving thread before the key goes
  if (key_) EVP_PKEY_free(static_cast<EVP_PKEY*>(key_));
}

std::vector<std::string> TokenServer::Scopes() const {
  std::vector<std::string> out;
  for (const SeenRequest& r : server_->Seen()) {
    const std::string& p = r.path;
    for (size_t at = p.find("scope="); at != std::string::npos; at = p.find("scope=", at + 1)) {
      out.push_back(UrlDecode(p.substr(at + 6, p.find('&', at) - at - 6)));
    }
  }
  return out;
}

ScriptedReply TokenServer::Issue(const SeenRequest& request) {
  using Json = nlohmann::json;
  ScriptedReply reply;
  const std::string expected =
      "Basic " + Base64(reinterpret_cast<const unsigned char*>((user_ + ":" + password_).data()),
                        user_.size() + password_.size() + 1);
  auto auth = request.headers.find("authorization");
  if (auth == request.headers.end() || auth->second != expected) {
    reply.status = 401;
    reply.body = R"({"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]})";
    return reply;
  }
  // Grant every scope asked: "repository:NAME:ACTIONS", possibly several.
  Json access = Json::array();
  const std::string& p = request.path;
  for (size_t at = p.find("scope="); at != std::string::npos; at = p.find("scope=", at + 1)) {
    const std::string scopes = UrlDecode(p.substr(at + 6, p.find('&', at) - at - 6));
    for (size_t s = 0; s <= scopes.size();) {
      const size_t end = std::min(scopes.find(' ', s), scopes.size());
      const std::string scope = scopes.substr(s, end - s);
      s = end + 1;
      const size_t c1 = scope.find(':'), c2 = scope.rfind(':');
      if (c1 == std::string::npos || c1 == c2) continue;
      Json actions = Json::array();
      const std::string list = scope.substr(c2 + 1);
      for (size_t a = 0; a <= list.size();) {
        const size_t e = std::min(list.find(',', a), list.size());
        actions.push_back(list.substr(a, e - a));
        a = e + 1;
      }
      access.push_back({{"type", scope.substr(0, c1)},
                        {"name", scope.substr(c1 + 1, c2 - c1 - 1)},
                        {"actions", actions}});
    }
  }
  const long now = static_cast<long>(std::time(nullptr));
  unsigned char jti[16];
  RAND_bytes(jti, sizeof jti);
  const Json header = {{"alg", "RS256"}, {"typ", "JWT"}, {"x5c", {cert_der_base64_}}};
  const Json claims = {{"iss", kIssuer},
                       {"sub", user_},
                       {"aud", kService},
                       {"exp", now + 300},
                       {"nbf", now - 10},
                       {"iat", now},
                       {"jti", Base64(jti, sizeof jti)},
                       {"access", access}};
  const std::string signing = Base64Url(header.dump()) + "." + Base64Url(claims.dump());
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  std::string sig;
  if (EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, static_cast<EVP_PKEY*>(key_)) == 1 &&
      EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(signing.data()),
                     signing.size()) == 1) {
    sig.resize(len);
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(signing.data()), signing.size());
    sig.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  const std::string token = signing + "." + Base64Url(sig);
  reply.body = Json{{"token", token}, {"access_token", token}, {"expires_in", 300}}.dump();
  reply.headers = {{"Content-Type", "application/json"}};
  return reply;
}

}  // namespace strata::testing
