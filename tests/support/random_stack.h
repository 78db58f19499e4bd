// Seeded random layer stacks for differential tests: a stack is described once (Plan) and
// written in any whiteout/opaque encoding (Write), so every encoding gets the same structure.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tests/support/layer_builder.h"

namespace strata::testing {

// The names every random path is made of (depth 1-3): small, so paths collide often.
extern const char* const kNames[5];

struct PlanOp {
  enum Kind {
    kFile,
    kSparse,
    kDir,
    kSymlink,
    kHardlink,
    kWhiteout,
    kOpaque,
    kFifo,
    kCharDev,
    kXattr
  } kind;
  std::string path;
  std::string arg;  // content, link target, hard link source, xattr value
  mode_t mode = 0;
  uid_t uid = 0;
  int64_t mtime = 0;
};
using LayerPlan = std::vector<PlanOp>;

// 2-5 layers of 10-40 entries each (bottom first), all draws from SEED.
std::vector<LayerPlan> Plan(uint64_t seed);

// Writes PLANS (bottom first) in encoding ENC under BASE/l0, BASE/l1...; returns the layer
// paths topmost first. Directory mtimes are pinned so encodings compare equal.
std::vector<std::string> Write(const std::vector<LayerPlan>& plans, Encoding enc,
                               const std::string& base);

}  // namespace strata::testing
