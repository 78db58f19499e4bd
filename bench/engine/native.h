// The native target: the merged tree of a layer set as a plain directory, the floor every CoW
// layer is weighed against. The base copy is made once per layer set through a mount of the
// reference (kernel overlayfs as root, else this stratafs), so it is what the union shows;
// a workload that changes the tree gets a fresh copy of it for each run.
#pragma once

#include <string>
#include <vector>

#include "bench/engine/layers.h"
#include "bench/engine/spec.h"
#include "fs/base/status.h"

namespace strata::bench {

// DIR holds the merged tree of LAYERS (made through a mount of REFERENCE with a throwaway
// upper under SCRATCH, which is removed) unless it already does; PROGRESS hears of a copy.
Status MakeNativeBase(const LayerSet& layers, const TargetSpec& reference, const std::string& dir,
                      const std::string& scratch, const Progress& progress);

// cp -a of BASE to DST, except the files in LINKS (relative to BASE), which are hard-linked: a
// run that does not change them does not pay for copying them.
Status CopyTreeLinking(const std::string& base, const std::string& dst,
                       const std::vector<std::string>& links);

}  // namespace strata::bench
