// Reports of a bench run: the terminal table, JSON for machines, and charts a person reads at a
// glance (grouped bars of each target's ratio to kernel overlayfs per workload on a log scale,
// and a line chart per scale series), drawn by gnuplot as SVG or PNG.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "bench/engine/results.h"

namespace strata::bench {

// "fuse-overlayfs" for "/usr/bin/fuse-overlayfs", "fuse-overlayfs:OPTS" with options; other
// labels as given.
std::string DisplayName(const TargetSpec& spec);

// Medians in ms with the ratio to kernel overlayfs, the spread, the geometric means, and the
// like-with-like summary (each stratafs target against every target of equal durability).
std::string FormatTable(const Results& results);

nlohmann::json ToJson(const Results& results);
// The results ToJson wrote (what `strata bench --from FILE` reports again). Errors: EINVAL
// naming what is missing or of the wrong type.
Result<Results> FromJson(const nlohmann::json& json);

// Errors: EINVAL unless PATH ends in .svg or .png.
Status CheckChartPath(const std::string& path);

// The gnuplot script drawing the ratio chart of RESULTS (its data inline) to OUTPUT, whose
// extension (.svg or .png) picks the terminal. Errors: EINVAL for another extension.
Result<std::string> RatioChartScript(const Results& results, const std::string& output);
// The same for scale series S: median seconds per point and target, log-log.
Result<std::string> ScaleChartScript(const Results& results, const ScaleResult& s,
                                     const std::string& output);
// The file a scale series' chart goes to, next to the ratio chart CHART:
// "out.svg" -> "out-scale-layers-lookup.svg".
std::string ScaleChartPath(const std::string& chart, const ScaleResult& s);

// Runs gnuplot (from PATH) on SCRIPT. Errors: ENOENT without gnuplot, EIO if it fails.
Status RunGnuplot(const std::string& script);

}  // namespace strata::bench
