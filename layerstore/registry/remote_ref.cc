#include "layerstore/registry/remote_ref.h"

#include <cctype>

#include "layerstore/digest.h"

namespace strata::store {
namespace {

bool Alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*
bool ValidComponent(const std::string& c) {
  if (c.empty() || !Alnum(c.front()) || !Alnum(c.back())) return false;
  for (size_t i = 0; i < c.size();) {
    if (Alnum(c[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < c.size() && !Alnum(c[j])) ++j;
    const std::string sep = c.substr(i, j - i);
    const bool dashes = sep.find_first_not_of('-') == std::string::npos;
    if (sep != "." && sep != "_" && sep != "__" && !dashes) return false;
    i = j;
  }
  return true;
}

// [\w][\w.-]{0,127}
bool ValidTag(const std::string& t) {
  if (t.empty() || t.size() > 128) return false;
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (!word(t.front())) return false;
  for (char c : t) {
    if (!word(c) && c != '.' && c != '-') return false;
  }
  return true;
}

bool ValidHost(const std::string& h) {
  if (h.empty()) return false;
  for (char c : h) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':' &&
        c != '[' && c != ']') {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string RemoteRef::Name() const {
  std::string name = registry + "/" + repository;
  if (!tag.empty()) name += ":" + tag;
  if (!digest.empty()) name += "@" + digest;
  return name;
}

std::string RemoteRef::ApiHost() const {
  return registry == "docker.io" ? "registry-1.docker.io" : registry;
}

bool RemoteRef::Loopback() const {
  std::string host = registry;
  if (host.starts_with("[")) {
    host = host.substr(0, host.find(']') + 1);
  } else if (const size_t colon = host.rfind(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]";
}

Result<RemoteRef> ParseRemoteRef(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return Fail(EINVAL, "image reference '" + text + "': " + why);
  };
  if (text.empty()) return bad("empty");
  if (text.size() > 4096) return bad("too long");
  RemoteRef r;
  std::string rest = text;
  if (const size_t at = rest.find('@'); at != std::string::npos) {
    r.digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    auto d = ParseDigest(r.digest);
    if (!d) return bad(d.error().context);
  }
  // The tag: after the last ':' that comes after the last '/'.
  const size_t slash = rest.rfind('/');
  if (const size_t colon = rest.rfind(':');
      colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    r.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    if (!ValidTag(r.tag)) return bad("invalid tag '" + r.tag + "'");
  }
  // The registry: a first component that looks like a host.
  const size_t first = rest.find('/');
  if (first != std::string::npos) {
    const std::string head = rest.substr(0, first);
    if (head.find('.') != std::string::npos || head.find(':') != std::string::npos ||
        head == "localhost" || head != [&] {
          std::string lower = head;
          for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          return lower;
        }()) {
      if (!ValidHost(head)) return bad("invalid registry '" + head + "'");
      r.registry = head;
      rest = rest.substr(first + 1);
    }
  }
  if (r.registry.empty() || r.registry == "index.docker.io") r.registry = "docker.io";
  if (r.registry == "docker.io" && rest.find('/') == std::string::npos) rest = "library/" + rest;
  if (rest.empty()) return bad("no repository");
  size_t start = 0;
  for (;;) {
    const size_t end = rest.find('/', start);
    const std::string component = rest.substr(start, end == std::string::npos ? end : end - start);
    if (!ValidComponent(component)) {
      return bad("invalid repository component '" + component +
                 "' (lowercase letters, digits and single separators . _ __ -)");
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (rest.size() > 255) return bad("repository name longer than 255 characters");
  r.repository = rest;
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  return r;
}

}  // namespace strata::store
