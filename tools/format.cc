#include "tools/format.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>

namespace strata::cli {
namespace {

using Json = nlohmann::json;

std::string Canon(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c != '_') out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

// Go's %v of a value: strings bare, lists as [a b], numbers and booleans as written.
std::string Plain(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "<no value>";
  if (v.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + Plain(v[i]);
    return out + "]";
  }
  return v.dump();
}

Result<const Json*> Lookup(const Json& row, const std::string& path) {
  const Json* v = &row;
  for (size_t p = 0; p < path.size();) {
    const size_t end = std::min(path.find('.', p), path.size());
    const std::string name = path.substr(p, end - p), key = Canon(name);
    if (!v->is_object()) return Fail(EINVAL, "template: ." + path + ": not an object");
    // The key as written, else one that matches ignoring case and '_'.
    const Json* next = v->contains(name) ? &(*v)[name] : nullptr;
    for (auto it = v->begin(); !next && it != v->end(); ++it) {
      if (Canon(it.key()) == key) next = &*it;
    }
    if (!next) return Fail(EINVAL, "template: no field ." + path.substr(0, end));
    v = next;
    p = end + 1;
  }
  return v;
}

}  // namespace

Result<Template> Template::Parse(const std::string& format) {
  Template t;
  std::string f = format;
  if (f.starts_with("table")) {
    t.table_ = true;
    f = f.substr(5);
    if (!f.empty() && f[0] == ' ') f = f.substr(1);
  }
  std::string unescaped;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == '\\' && i + 1 < f.size() && (f[i + 1] == 't' || f[i + 1] == 'n')) {
      unescaped.push_back(f[i + 1] == 't' ? '\t' : '\n');
      ++i;
    } else {
      unescaped.push_back(f[i]);
    }
  }
  for (size_t pos = 0; pos < unescaped.size();) {
    const size_t open = unescaped.find("{{", pos);
    if (open == std::string::npos) {
      t.parts_.push_back({unescaped.substr(pos), false, ""});
      break;
    }
    if (open > pos) t.parts_.push_back({unescaped.substr(pos, open - pos), false, ""});
    const size_t close = unescaped.find("}}", open);
    if (close == std::string::npos) return Fail(EINVAL, "template: unclosed action in " + format);
    std::string action = Trim(unescaped.substr(open + 2, close - open - 2));
    Part part{"", true, ""};
    for (const char* func : {"json", "upper", "lower"}) {
      const std::string prefix = std::string(func) + " ";
      if (action.starts_with(prefix)) {
        part.func = func;
        action = Trim(action.substr(prefix.size()));
      }
    }
    if (action.empty() || action[0] != '.' ||
        action.find_first_of(" |()$") != std::string::npos) {
      return Fail(EINVAL, "template: unsupported action {{" +
                              unescaped.substr(open + 2, close - open - 2) +
                              "}} (fields, json, upper and lower only)");
    }
    part.text = action.substr(1);
    t.parts_.push_back(part);
    pos = close + 2;
  }
  return t;
}

Result<std::string> Template::Render(const Json& row) const {
  std::string out;
  for (const Part& p : parts_) {
    if (!p.action) {
      out += p.text;
      continue;
    }
    STRATA_ASSIGN_OR_RETURN(const Json* v, Lookup(row, p.text));
    std::string s = p.func == "json" ? v->dump() : Plain(*v);
    if (p.func == "upper" || p.func == "lower") {
      for (char& c : s) {
        c = static_cast<char>(p.func == "upper" ? std::toupper(static_cast<unsigned char>(c))
                                                : std::tolower(static_cast<unsigned char>(c)));
      }
    }
    out += s;
  }
  return out;
}

std::string Template::Header(const std::map<std::string, std::string>& headers) const {
  std::string out;
  for (const Part& p : parts_) {
    if (!p.action) {
      out += p.text;
      continue;
    }
    auto it = headers.find(p.text);
    for (auto h = headers.begin(); it == headers.end() && h != headers.end(); ++h) {
      if (Canon(h->first) == Canon(p.text)) it = h;
    }
    if (it != headers.end()) {
      out += it->second;
    } else {
      std::string name = p.text.empty() ? "." : p.text;
      for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      out += name;
    }
  }
  return out;
}

std::string AlignColumns(const std::vector<std::string>& lines) {
  std::vector<std::vector<std::string>> cells;
  std::vector<size_t> width;
  for (const std::string& line : lines) {
    std::vector<std::string> row;
    for (size_t p = 0; p <= line.size();) {
      const size_t end = std::min(line.find('\t', p), line.size());
      row.push_back(line.substr(p, end - p));
      p = end + 1;
    }
    for (size_t c = 0; c + 1 < row.size(); ++c) {
      if (width.size() <= c) width.resize(c + 1, 0);
      width[c] = std::max(width[c], row[c].size());
    }
    cells.push_back(std::move(row));
  }
  std::string out;
  for (const auto& row : cells) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] - row[c].size() + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string HumanSize(uint64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  double v = static_cast<double>(bytes);
  size_t u = 0;
  while (v >= 1000 && u + 1 < std::size(units)) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.3g %s", v, units[u]);
  return buf;
}

int64_t ParseTimeNs(const std::string& text) {
  struct tm tm {};
  const char* rest = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return -1;
  int64_t t = ::timegm(&tm);
  int64_t nanos = 0;
  if (*rest == '.') {
    ++rest;
    int64_t scale = 100000000;
    for (; std::isdigit(static_cast<unsigned char>(*rest)); ++rest, scale /= 10) {
      nanos += (*rest - '0') * scale;
    }
  }
  if (*rest == '+' || *rest == '-') {
    int hh = 0, mm = 0;
    if (std::sscanf(rest + 1, "%d:%d", &hh, &mm) >= 1) {
      const int64_t offset = hh * 3600 + mm * 60;
      t += *rest == '+' ? -offset : offset;
    }
  }
  return t * 1000000000 + nanos;
}

int64_t ParseTime(const std::string& text) {
  const int64_t ns = ParseTimeNs(text);
  return ns < 0 ? -1 : ns / 1000000000;
}

std::string HumanAgo(const std::string& created, int64_t now_unix) {
  const int64_t then = ParseTime(created);
  if (then < 0) return "";
  const int64_t s = std::max<int64_t>(0, now_unix - then);
  auto n = [](int64_t v, const char* unit) {
    return std::to_string(v) + " " + unit + (v == 1 ? "" : "s") + " ago";
  };
  if (s < 1) return "Less than a second ago";
  if (s < 60) return n(s, "second");
  if (s < 120) return "About a minute ago";
  if (s < 3600) return n(s / 60, "minute");
  if (s < 7200) return "About an hour ago";
  if (s < 48 * 3600) return n(s / 3600, "hour");
  if (s < 14 * 86400) return n(s / 86400, "day");
  if (s < 60 * 86400) return n(s / (7 * 86400), "week");
  if (s < 2 * 365 * 86400) return n(s / (30 * 86400), "month");
  return n(s / (365 * 86400), "year");
}

}  // namespace strata::cli
