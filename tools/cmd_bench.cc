// strata bench: parses nothing itself beyond the flags; the engine (bench/engine) plans, runs
// and reports, and this prints.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "bench/engine/micro.h"
#include "bench/engine/report.h"
#include "bench/engine/runner.h"
#include "tools/commands.h"

namespace strata::cli {
namespace {

// A program on PATH, as an absolute path ("" if none).
std::string OnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  for (size_t pos = 0; pos <= dirs.size();) {
    size_t colon = dirs.find(':', pos);
    if (colon == std::string::npos) colon = dirs.size();
    const std::string candidate = dirs.substr(pos, colon - pos) + "/" + name;
    if (colon > pos && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    pos = colon + 1;
  }
  return "";
}

int List() {
  std::printf("workloads:\n");
  for (const bench::Workload& w : bench::AllWorkloads()) {
    std::string scale;
    for (const std::string& s : w.scale) scale += (scale.empty() ? " [--scale " : ", ") + s;
    std::printf("  %-16s %s%s\n", w.name.c_str(), w.description.c_str(),
                scale.empty() ? "" : (scale + "]").c_str());
  }
  std::printf("default targets:");
  for (const std::string& t : bench::DefaultTargets()) std::printf(" %s", t.c_str());
  std::printf("\n(also stratafs:OPTS, kernel:OPTS such as kernel:metacopy=on, and "
              "/path/to/fuse-overlayfs-compatible[:OPTS])\n");
  return 0;
}

Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return strata::Fail(EIO, "write " + path);
  return Ok();
}

Status DrawCharts(const bench::Results& results, const std::string& chart) {
  STRATA_ASSIGN_OR_RETURN(std::string script, bench::RatioChartScript(results, chart));
  STRATA_RETURN_IF_ERROR(bench::RunGnuplot(script));
  std::fprintf(stderr, "chart: %s\n", chart.c_str());
  for (const bench::ScaleResult& s : results.scales) {
    const std::string path = bench::ScaleChartPath(chart, s);
    STRATA_ASSIGN_OR_RETURN(std::string scale_script, bench::ScaleChartScript(results, s, path));
    STRATA_RETURN_IF_ERROR(bench::RunGnuplot(scale_script));
    std::fprintf(stderr, "chart: %s\n", path.c_str());
  }
  return Ok();
}

// The table and charts of RESULTS; 1 if a chart could not be drawn or a measurement failed.
int Print(const bench::Results& results, const BenchFlags& f) {
  std::printf("\n%s", bench::FormatTable(results).c_str());
  std::fflush(stdout);
  int rc = 0;
  if (!f.json.empty()) {
    Status s = WriteText(f.json, bench::ToJson(results).dump(2) + "\n");
    if (!s) rc = Report(s.error());
  }
  for (const std::string& chart : f.chart) {
    if (Status s = DrawCharts(results, chart); !s) rc = Report(s.error());
  }
  size_t failed = 0;
  for (const bench::Cell& c : results.cells) failed += c.error.empty() ? 0 : 1;
  for (const bench::ScaleResult& s : results.scales) {
    for (const bench::Cell& c : s.cells) failed += c.error.empty() ? 0 : 1;
  }
  if (failed > 0) {
    std::fprintf(stderr, "strata: %zu measurement%s failed (listed above)\n", failed,
                 failed == 1 ? "" : "s");
    rc = 1;
  }
  return rc;
}

// `--from FILE`: a saved run's table and charts again.
int FromSaved(const BenchFlags& f) {
  std::ifstream in(f.from);
  if (!in) return Report(Error{errno ? errno : ENOENT, "open " + f.from});
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Report(Error{EINVAL, f.from + ": not JSON"});
  auto results = bench::FromJson(j);
  if (!results) return Report(Error{results.error().code, f.from + ": " + results.error().context});
  return Print(*results, f);
}

}  // namespace

int Bench(const Globals& g, const BenchFlags& f) {
  if (f.list) return List();
  if (f.micro) {
    auto programs = bench::FindMicroPrograms(SelfDir());
    if (!programs) return Report(programs.error());
    // With --work their temporary files (layers, uppers, extracted tars) go there, so they
    // are measured on the filesystem the mount benchmarks use.
    if (!f.work.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(f.work, ec);
      if (ec) return Report(Error{ec.value(), "cannot create " + f.work});
      ::setenv("TMPDIR", f.work.c_str(), 1);
    }
    Status s = bench::RunMicro(*programs, f.json, f.filter);
    return s ? 0 : Report(s.error());
  }
  for (const std::string& chart : f.chart) {
    // A chart that cannot be drawn is refused before the run (or the report), not after it.
    if (Status s = bench::CheckChartPath(chart); !s) return Report(s.error());
  }
  if (!f.from.empty()) return FromSaved(f);
  bench::BenchArgs args;
  args.targets = f.targets;
  args.workloads = f.workloads;
  args.scales = f.scales;
  args.reps = f.reps;
  args.quick = f.quick;
  args.work_dir = f.work;
  args.command = f.command;
  args.stratafs = StratafsPath();
  if (args.stratafs.find('/') == std::string::npos) {
    const std::string found = OnPath(args.stratafs);
    if (!found.empty()) args.stratafs = found;
  }
  // An image's layers stay in the store, under its shared lock, for the whole run.
  std::optional<store::Store> store;
  if (!f.image.empty()) {
    auto opened = store::Store::Open(g.root, store::Store::Lock::kShared);
    if (!opened) return Report(opened.error());
    store.emplace(std::move(*opened));
    auto lowers = ImageLowers(*store, f.image);
    if (!lowers) return Report(lowers.error());
    args.image_label = f.image;
    args.image_lowers = std::move(*lowers);
  }
  auto plan = bench::MakePlan(args);
  if (!plan) return Report(plan.error());
  const bool quiet = g.quiet;
  auto results = bench::RunPlan(*plan, [quiet](const std::string& line) {
    if (!quiet) std::fprintf(stderr, "%s\n", line.c_str());
  });
  if (!results) return Report(results.error());
  return Print(*results, f);
}

}  // namespace strata::cli
