#include "bench/engine/spec.h"

#include <cmath>
#include <cstdlib>

namespace strata::bench {
namespace {

Unexpected Invalid(const std::string& what) { return Fail(EINVAL, what); }

// "volatile" or "fsync=0" among comma-separated OPTIONS.
bool Unsynced(std::string_view options) {
  for (const std::string& o : SplitList(options)) {
    if (o == "volatile" || o == "fsync=0") return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> SplitList(std::string_view list) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    if (comma > pos) out.emplace_back(list.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

std::vector<std::string> SplitTargets(std::string_view list) {
  std::vector<std::string> out;
  for (const std::string& item : SplitList(list)) {
    const bool starts = item == "kernel" || item.rfind("kernel:", 0) == 0 || item == "native" ||
                        item[0] == '/' || item == "stratafs" || item.rfind("stratafs:", 0) == 0;
    if (starts || out.empty()) {
      out.push_back(item);
    } else {
      out.back() += "," + item;
    }
  }
  return out;
}

std::vector<std::string> DefaultTargets() {
  return {"stratafs", "stratafs:volatile", "/usr/bin/fuse-overlayfs", "kernel", "native"};
}

Result<TargetSpec> ParseTarget(std::string_view spec, const std::string& stratafs) {
  TargetSpec t;
  t.label = std::string(spec);
  if (spec == "kernel") {
    t.kind = TargetKind::kKernel;
    return t;
  }
  if (spec == "native") {
    t.kind = TargetKind::kNative;
    t.durable = false;  // nothing is copied up
    return t;
  }
  const size_t colon = spec.find(':');
  const std::string_view head = spec.substr(0, colon);
  const std::string_view opts =
      colon == std::string_view::npos ? std::string_view() : spec.substr(colon + 1);
  if (colon != std::string_view::npos && opts.empty()) {
    return Invalid("target '" + t.label + "': nothing after ':'");
  }
  if (head == "kernel") {
    t.kind = TargetKind::kKernel;  // always durable: the kernel fsyncs copied-up data
    t.options = std::string(opts);
    return t;
  }
  if (head == "stratafs") {
    t.kind = TargetKind::kStratafs;
    t.binary = stratafs;
  } else if (!head.empty() && head[0] == '/') {
    // Another stratafs build by path (stratafs*, e.g. an older one to compare against) keeps
    // stratafs' semantics (durable copy-up); anything else is a fuse-overlayfs-compatible peer.
    const std::string_view base = head.substr(head.rfind('/') + 1);
    t.kind = base.starts_with("stratafs") ? TargetKind::kStratafs : TargetKind::kFuseCompatible;
    t.binary = std::string(head);
  } else {
    return Invalid("target '" + t.label +
                   "': expected stratafs[:OPTS], /path/to/binary[:OPTS], kernel[:OPTS] or native");
  }
  t.options = std::string(opts);
  // fuse-overlayfs does not fsync a copy-up; stratafs does unless told otherwise.
  t.durable = t.kind == TargetKind::kStratafs && !Unsynced(t.options);
  return t;
}

Result<ScaleSeries> ParseScale(std::string_view spec) {
  const size_t eq = spec.find('=');
  if (eq == std::string_view::npos) {
    return Invalid("--scale " + std::string(spec) + ": expected layers=N,... or files=N,...");
  }
  ScaleSeries s;
  s.kind = std::string(spec.substr(0, eq));
  if (s.kind != "layers" && s.kind != "files") {
    return Invalid("--scale " + std::string(spec) + ": the series is layers or files");
  }
  for (const std::string& item : SplitList(spec.substr(eq + 1))) {
    // Plain integers or 1e4-style powers of ten.
    char* end = nullptr;
    const double v = std::strtod(item.c_str(), &end);
    if (end == item.c_str() || *end != '\0' || !(v >= 1) || v > 1e7 || v != std::floor(v)) {
      return Invalid("--scale " + std::string(spec) + ": '" + item +
                     "' is not a whole number from 1 to 1e7");
    }
    s.points.push_back(static_cast<uint64_t>(v));
  }
  if (s.points.empty()) return Invalid("--scale " + std::string(spec) + ": no points");
  if (s.kind == "layers" && s.points.back() > 499) {
    return Invalid("--scale " + std::string(spec) + ": at most 499 layers");
  }
  return s;
}

}  // namespace strata::bench
