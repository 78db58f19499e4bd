// `strata bench` itself: the plan made from the command line's words (targets, workloads, scale
// series, repetitions), then the run. Each workload runs on a fresh upper layer of every target
// in turn, the targets' order rotated per repetition so that drift on a shared machine spreads
// over all of them; only the workload is timed (mounting, dropping caches and cleaning up are
// not). A target or workload that cannot run here is reported with the reason, never dropped.
#pragma once

#include <string>
#include <vector>

#include "bench/engine/layers.h"
#include "bench/engine/results.h"
#include "bench/engine/spec.h"
#include "bench/engine/workloads.h"

namespace strata::bench {

struct BenchArgs {
  std::vector<std::string> targets;    // lists of target specs (SplitTargets); empty: defaults
  std::vector<std::string> workloads;  // comma-separated lists of names; empty: every workload
  int reps = 0;                        // 0: 3, or 1 with quick
  bool quick = false;                  // tiny layers, small amounts
  std::string work_dir;                // empty: /var/tmp/strata-bench
  std::vector<std::string> scales;     // "layers=1,8,32", "files=1e3,1e4"
  std::string image_label;             // --image: the image's name, for the report
  std::vector<std::string> image_lowers;  // --image: its layers, topmost first
  std::string stratafs;                // this build's stratafs
  std::string command;                 // the command line, recorded in the JSON
};

struct Plan {
  BenchArgs args;
  std::vector<TargetSpec> targets;
  std::vector<const Workload*> workloads;
  std::vector<ScaleSeries> scales;
  // Per series, the chosen workloads that rerun over it.
  std::vector<std::vector<const Workload*>> scale_workloads;
  int reps = 3;
};

// Errors: EINVAL naming the bad target, workload, series or count.
Result<Plan> MakePlan(const BenchArgs& args);

// Runs PLAN, reporting each step to PROGRESS. SIGINT/SIGTERM stop it after the step under way,
// with everything it mounted unmounted. Errors: what stopped the whole run (the layers could
// not be built, an interrupt); a single workload's failure is recorded in its cell instead.
Result<Results> RunPlan(const Plan& plan, const Progress& progress);

}  // namespace strata::bench
