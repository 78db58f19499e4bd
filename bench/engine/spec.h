// What `strata bench` is asked to measure: targets (the filesystems compared), workloads (what
// runs on them) and scale series, parsed from the command line's words. Pure: no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fs/base/status.h"

namespace strata::bench {

enum class TargetKind {
  kStratafs,        // this build's stratafs
  kFuseCompatible,  // any fuse-overlayfs-compatible binary (fuse-overlayfs itself, by path)
  kKernel,          // kernel overlayfs, redirect_dir=on,index=on (and its options)
  kNative,          // the merged tree as a plain directory: the floor
};

struct TargetSpec {
  std::string label;  // as given: "stratafs:volatile", "/usr/bin/fuse-overlayfs"
  TargetKind kind = TargetKind::kStratafs;
  std::string binary;   // FUSE targets
  std::string options;  // extra -o options, comma-separated
  // Whether the target fsyncs what a copy-up writes before showing it (kernel overlayfs and
  // stratafs by default do; fuse-overlayfs and stratafs with volatile or fsync=0 do not).
  bool durable = true;
};

// SPEC is "stratafs", "stratafs:volatile", "stratafs:OPTS" (any -o set), a path to a
// fuse-overlayfs-compatible binary optionally followed by ":OPTS", "kernel" (optionally
// ":OPTS", overlay mount options such as metacopy=on) or "native".
// STRATAFS is the binary "stratafs" names. Errors: EINVAL naming the spec.
Result<TargetSpec> ParseTarget(std::string_view spec, const std::string& stratafs);

// The default targets: this stratafs, its volatile mode, fuse-overlayfs, kernel, native.
std::vector<std::string> DefaultTargets();

// A series a workload is rerun across: "layers=1,8,32,128" (a stack of that many layers) or
// "files=1e3,1e4,1e5" (a tree of that many files). Errors: EINVAL.
struct ScaleSeries {
  std::string kind;  // "layers" | "files"
  std::vector<uint64_t> points;
};
Result<ScaleSeries> ParseScale(std::string_view spec);

// A comma-separated list of target specs. Options stay with their target: an item that does not
// start a target (stratafs..., /..., kernel..., native) continues the previous one's options, so
// "stratafs:volatile,noxattrs,kernel" is two targets.
std::vector<std::string> SplitTargets(std::string_view list);

// A comma-separated list, empty items dropped.
std::vector<std::string> SplitList(std::string_view list);

}  // namespace strata::bench
