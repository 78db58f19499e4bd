#include "layerstore/registry/auth.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

namespace strata::store {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<std::string> Unbase64(const std::string& in) {
  if (in.empty() || in.size() % 4 != 0) return std::nullopt;
  std::vector<unsigned char> out(in.size() / 4 * 3 + 1);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  size_t len = static_cast<size_t>(n);
  for (size_t i = in.size(); i > 0 && in[i - 1] == '='; --i) --len;  // DecodeBlock keeps padding
  return std::string(reinterpret_cast<const char*>(out.data()), len);
}

}  // namespace

std::string Base64(const std::string& data) {
  std::vector<unsigned char> out(4 * ((data.size() + 2) / 3) + 1);
  const int n = EVP_EncodeBlock(out.data(), reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  return std::string(reinterpret_cast<const char*>(out.data()), static_cast<size_t>(n));
}

Result<Challenge> ParseChallenge(const std::string& header) {
  Challenge c;
  size_t i = header.find_first_not_of(' ');
  if (i == std::string::npos) return Fail(EINVAL, "empty WWW-Authenticate");
  const size_t space = header.find(' ', i);
  c.scheme = Lower(header.substr(i, space == std::string::npos ? space : space - i));
  if (c.scheme != "basic" && c.scheme != "bearer") {
    return Fail(EINVAL, "unsupported authentication scheme '" + c.scheme + "'");
  }
  i = space;
  while (i != std::string::npos && i < header.size()) {
    i = header.find_first_not_of(" ,", i);
    if (i == std::string::npos) break;
    const size_t eq = header.find('=', i);
    if (eq == std::string::npos) return Fail(EINVAL, "malformed WWW-Authenticate parameter");
    const std::string name = Lower(header.substr(i, eq - i));
    std::string value;
    i = eq + 1;
    if (i < header.size() && header[i] == '"') {
      for (++i; i < header.size() && header[i] != '"'; ++i) {
        if (header[i] == '\\' && i + 1 < header.size()) ++i;
        value.push_back(header[i]);
      }
      if (i >= header.size()) return Fail(EINVAL, "unterminated quote in WWW-Authenticate");
      ++i;
    } else {
      const size_t end = header.find(',', i);
      value = header.substr(i, end == std::string::npos ? end : end - i);
      i = end;
    }
    if (name.find_first_of(" \"") != std::string::npos || name.empty()) {
      return Fail(EINVAL, "malformed WWW-Authenticate parameter");
    }
    c.params.emplace(name, value);
  }
  if (c.scheme == "bearer" && c.params.count("realm") == 0) {
    return Fail(EINVAL, "Bearer challenge without a realm");
  }
  return c;
}

std::optional<Credentials> CredentialsIn(const std::string& auth_json,
                                         const std::string& registry) {
  const nlohmann::json j = nlohmann::json::parse(auth_json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("auths") || !j["auths"].is_object()) {
    return std::nullopt;
  }
  std::vector<std::string> keys = {registry, "https://" + registry, "http://" + registry};
  if (registry == "docker.io") {
    keys.insert(keys.end(), {"https://index.docker.io/v1/", "index.docker.io",
                             "registry-1.docker.io"});
  }
  for (const std::string& key : keys) {
    if (!j["auths"].contains(key) || !j["auths"][key].is_object()) continue;
    const auto& entry = j["auths"][key];
    if (!entry.contains("auth") || !entry["auth"].is_string()) continue;
    auto decoded = Unbase64(entry["auth"].get<std::string>());
    if (!decoded) continue;
    const size_t colon = decoded->find(':');
    if (colon == std::string::npos) continue;
    return Credentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
  }
  return std::nullopt;
}

std::optional<Credentials> FindCredentials(const std::string& registry) {
  std::vector<std::string> files = {AuthFile()};
  if (const char* home = std::getenv("HOME")) {
    files.push_back(std::string(home) + "/.config/containers/auth.json");
    files.push_back(std::string(home) + "/.docker/config.json");
  }
  for (const std::string& path : files) {
    std::ifstream in(path);
    if (!in) continue;
    std::stringstream text;
    text << in.rdbuf();
    if (auto c = CredentialsIn(text.str(), registry)) return c;
  }
  return std::nullopt;
}

std::string AuthFile() {
  if (const char* f = std::getenv("REGISTRY_AUTH_FILE"); f && *f) return f;
  if (const char* run = std::getenv("XDG_RUNTIME_DIR"); run && *run) {
    return std::string(run) + "/containers/auth.json";
  }
  return "/run/containers/" + std::to_string(::getuid()) + "/auth.json";
}

Status UpdateAuthFile(const std::string& path, const std::string& registry,
                      const std::optional<Credentials>& credentials) {
  nlohmann::json j = nlohmann::json::object();
  if (::access(path.c_str(), F_OK) == 0) {
    std::ifstream in(path);
    if (!in) return Fail(EACCES, "read " + path);
    std::stringstream text;
    text << in.rdbuf();
    j = nlohmann::json::parse(text.str(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Fail(EINVAL, path + ": not an auth file");
  } else if (errno != ENOENT) {
    return FailErrno(path);
  }
  if (!j.contains("auths") || !j["auths"].is_object()) j["auths"] = nlohmann::json::object();
  if (credentials) {
    j["auths"][registry] = {{"auth", Base64(credentials->user + ":" + credentials->password)}};
  } else {
    j["auths"].erase(registry);
  }
  const size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    // Parents as podman makes them: private to the user.
    std::string dir;
    for (size_t at = 1; at != std::string::npos && at <= slash; at = path.find('/', at + 1)) {
      dir = path.substr(0, at);
      if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return FailErrno("mkdir " + dir);
    }
  }
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return FailErrno(tmp);
  const std::string text = j.dump(1, '\t') + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = written ? errno : err;
    ::unlink(tmp.c_str());
    return Fail(e, "write " + path);
  }
  return Ok();
}

}  // namespace strata::store
