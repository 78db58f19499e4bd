// The workloads: what people run to weigh a copy-on-write layer (tree walks, listings, cold
// reads, copy-up of a big file, metadata changes of many files, untar, big writes, rm -rf,
// lookups through many layers, fio, several processes at once, a compile, container start-up).
// Each runs on one target's merged tree; the runner times `run` only.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "bench/engine/layers.h"
#include "fs/base/status.h"

namespace strata::bench {

struct Env {
  std::string root;  // the target's merged tree
  const LayerSet* layers = nullptr;
  int cpus = 1;
  bool quick = false;  // --quick: smaller amounts (fio)
  std::string scratch;  // a directory of this run's own, outside the mount
};

struct Workload {
  std::string name;
  std::string description;
  bool deep = false;        // runs on the deep stack, not the main one
  bool cold = false;        // the caches are dropped after mounting, before `run`
  bool mutates = true;      // changes the tree (native gets a fresh copy for each run)
  // What it changes in place (data or metadata of existing files): native's fresh copy
  // hard-links the big files from its base unless the workload changes them.
  enum class InPlace { kNothing, kBigFiles, kSmallTree } in_place = InPlace::kNothing;
  bool container = false;   // podman start-up: the runner drives it (bench/engine/podman.h)
  std::vector<std::string> scale;  // the series it reruns over: "layers", "files"
  // Why it cannot run on LAYERS here ("" if it can): a missing tool, nothing to run on.
  std::function<std::string(const LayerSet&)> unavailable;
  std::function<Status(const Env&)> warmup;  // untimed, right before `run`; may be empty
  std::function<Status(const Env&)> run;  // empty for `container`
};

const std::vector<Workload>& AllWorkloads();
const Workload* FindWorkload(const std::string& name);

// Every regular file, directory and other entry under ROOT/REL, stat'ed (the walk workloads).
// Returns the number of entries. Errors: the first errno.
Result<uint64_t> WalkTree(const std::string& root, const std::string& rel);

}  // namespace strata::bench
