// `strata bench --micro`: the Google Benchmark programs (bench/core_bench, bench/store_bench),
// found next to the strata binary or in its bench/ directory, run with their own output.
#pragma once

#include <string>
#include <vector>

#include "fs/base/status.h"

namespace strata::bench {

// The micro-benchmark programs under DIR or DIR/bench. Errors: ENOENT naming what is missing.
Result<std::vector<std::string>> FindMicroPrograms(const std::string& dir);

// Runs each of PROGRAMS with its table on our stdout; with JSON ("out.json") each also writes
// Google Benchmark's JSON to "out-PROGRAM.json". FILTER (a regex) picks benchmarks.
Status RunMicro(const std::vector<std::string>& programs, const std::string& json,
                const std::string& filter);

// "out.json" + "core_bench" -> "out-core_bench.json".
std::string MicroJsonPath(const std::string& json, const std::string& program);

}  // namespace strata::bench
