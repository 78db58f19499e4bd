// What a `strata bench` run measured: per workload and target the seconds of every repetition,
// per scale series the same for each point, and the machine it ran on. Statistics over it
// (medians, spread, ratios to a reference target, geometric means) are computed here, from the
// one run; nothing is compared across runs. Pure: no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bench/engine/spec.h"

namespace strata::bench {

struct Summary {
  double median = 0, min = 0, max = 0;
  size_t n = 0;
};
// Median (the mean of the two middle values for an even count), min and max of SAMPLES.
Summary Summarize(std::vector<double> samples);

struct Machine {
  std::string kernel;  // uname -r
  std::string cpu;     // model name
  int cpus = 0;
  std::string libfuse;  // the libfuse stratafs is built with
  std::string work_fs;      // the filesystem under the layers and upper layers
  std::string work_device;  // its mount's source (/dev/vda, /dev/loop0, ...)
  std::string date;     // UTC, ISO 8601
};

struct TargetResult {
  TargetSpec spec;
  std::string unavailable;  // why it could not run here; empty: it ran
};

struct WorkloadInfo {
  std::string name;
  std::string description;
  std::string unavailable;  // why it could not run here; empty: it ran
};

// One workload on one target: a sample per repetition, or why it could not run.
struct Cell {
  std::string workload;
  std::string target;  // TargetSpec::label
  std::vector<double> seconds;
  std::string error;
  // The daemon's peak resident memory (VmHWM, KiB) over each repetition's mount, for targets
  // served by a daemon (stratafs, fuse-overlayfs); empty for the others.
  std::vector<uint64_t> peak_rss_kib = {};
};

// The largest of CELL's peak_rss_kib, 0 if none.
uint64_t MaxPeakRss(const Cell& cell);

// One workload rerun across a scale series.
struct ScaleResult {
  std::string kind;  // "layers" | "files"
  std::string workload;
  std::vector<uint64_t> points;
  std::vector<Cell> cells;  // one per (point, target), `workload` holding the point
};

struct Results {
  Machine machine;
  std::string command;
  int reps = 0;
  bool quick = false;
  std::string layers;  // what the layers were made of
  std::vector<TargetResult> targets;
  std::vector<WorkloadInfo> workloads;
  std::vector<Cell> cells;
  std::vector<ScaleResult> scales;

  const Cell* Find(const std::string& workload, const std::string& target) const;
  // Median of TARGET over the median of REFERENCE for WORKLOAD; nullopt if either is missing.
  std::optional<double> Ratio(const std::string& workload, const std::string& target,
                              const std::string& reference) const;
  // The geometric mean of Ratio over every workload both ran; nullopt if none.
  std::optional<double> GeoMeanRatio(const std::string& target,
                                     const std::string& reference) const;
};

}  // namespace strata::bench
