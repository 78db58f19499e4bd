// The bench engine's pure parts: target, workload and scale parsing, the plan, statistics,
// the table, the JSON and the chart scripts; and the native copy that hard-links big files.
#include <sys/stat.h>

#include <cmath>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "bench/engine/layers.h"
#include "bench/engine/micro.h"
#include "bench/engine/native.h"
#include "bench/engine/report.h"
#include "bench/engine/runner.h"
#include "tests/support/layer_builder.h"
#include "tests/support/temp_dir.h"

namespace strata::bench {
namespace {

TEST(BenchSpecTest, ParsesEveryKindOfTarget) {
  auto s = ParseTarget("stratafs", "/b/stratafs");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->kind, TargetKind::kStratafs);
  EXPECT_EQ(s->binary, "/b/stratafs");
  EXPECT_EQ(s->options, "");
  EXPECT_TRUE(s->durable);

  auto v = ParseTarget("stratafs:volatile", "/b/stratafs");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->options, "volatile");
  EXPECT_FALSE(v->durable);
  auto f0 = ParseTarget("stratafs:noxattrs,fsync=0", "/b/stratafs");
  ASSERT_TRUE(f0);
  EXPECT_FALSE(f0->durable);
  auto synced = ParseTarget("stratafs:noxattrs", "/b/stratafs");
  ASSERT_TRUE(synced);
  EXPECT_TRUE(synced->durable);

  auto fo = ParseTarget("/usr/bin/fuse-overlayfs:squash_to_root", "/b/stratafs");
  ASSERT_TRUE(fo);
  EXPECT_EQ(fo->kind, TargetKind::kFuseCompatible);
  EXPECT_EQ(fo->binary, "/usr/bin/fuse-overlayfs");
  EXPECT_EQ(fo->options, "squash_to_root");
  EXPECT_FALSE(fo->durable);
  EXPECT_EQ(DisplayName(*fo), "fuse-overlayfs:squash_to_root");

  // Another stratafs build by path: stratafs' semantics, named by its file name.
  auto old = ParseTarget("/opt/old/stratafs-3.14:volatile", "/b/stratafs");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->kind, TargetKind::kStratafs);
  EXPECT_EQ(old->binary, "/opt/old/stratafs-3.14");
  EXPECT_FALSE(old->durable);
  EXPECT_EQ(DisplayName(*old), "stratafs-3.14:volatile");
  auto old_durable = ParseTarget("/opt/old/stratafs-3.14", "/b/stratafs");
  ASSERT_TRUE(old_durable);
  EXPECT_TRUE(old_durable->durable);
  EXPECT_EQ(DisplayName(*s), "stratafs");

  auto k = ParseTarget("kernel", "");
  ASSERT_TRUE(k);
  EXPECT_EQ(k->kind, TargetKind::kKernel);
  EXPECT_TRUE(k->durable);
  auto km = ParseTarget("kernel:metacopy=on", "");
  ASSERT_TRUE(km);
  EXPECT_EQ(km->kind, TargetKind::kKernel);
  EXPECT_EQ(km->options, "metacopy=on");
  auto n = ParseTarget("native", "");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->kind, TargetKind::kNative);
}

TEST(BenchSpecTest, RejectsBadTargets) {
  for (const char* bad : {"ext4", "stratafs:", "relative/fuse-overlayfs", "", "kernel:", "kernelx"}) {
    auto t = ParseTarget(bad, "/b/stratafs");
    ASSERT_FALSE(t) << bad;
    EXPECT_EQ(t.error().code, EINVAL);
  }
}

TEST(BenchSpecTest, TargetListsKeepOptionsWithTheirTarget) {
  EXPECT_EQ(SplitTargets("stratafs,kernel"), (std::vector<std::string>{"stratafs", "kernel"}));
  EXPECT_EQ(SplitTargets("stratafs:volatile,noxattrs,/usr/bin/fuse-overlayfs:a,b,native"),
            (std::vector<std::string>{"stratafs:volatile,noxattrs", "/usr/bin/fuse-overlayfs:a,b",
                                      "native"}));
  EXPECT_EQ(SplitTargets(",,kernel,"), (std::vector<std::string>{"kernel"}));
  EXPECT_EQ(SplitTargets("kernel:metacopy=on,index=off,stratafs:metacopy=on"),
            (std::vector<std::string>{"kernel:metacopy=on,index=off", "stratafs:metacopy=on"}));
}

TEST(BenchSpecTest, ParsesScaleSeries) {
  auto l = ParseScale("layers=1,8,32,128");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->kind, "layers");
  EXPECT_EQ(l->points, (std::vector<uint64_t>{1, 8, 32, 128}));
  auto f = ParseScale("files=1e3,1e4,100000");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->points, (std::vector<uint64_t>{1000, 10000, 100000}));
  for (const char* bad : {"layers", "depth=1,2", "files=", "files=0", "files=1.5", "files=x",
                          "layers=1000", "files=1e9"}) {
    EXPECT_FALSE(ParseScale(bad)) << bad;
  }
}

TEST(BenchPlanTest, DefaultsAndErrors) {
  BenchArgs args;
  args.stratafs = "/b/stratafs";
  auto plan = MakePlan(args);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->targets.size(), DefaultTargets().size());
  EXPECT_EQ(plan->workloads.size(), AllWorkloads().size());
  EXPECT_EQ(plan->reps, 3);
  args.quick = true;
  EXPECT_EQ(MakePlan(args)->reps, 1);

  args.workloads = {"readdir,lookup-deep", "readdir"};
  args.scales = {"layers=1,4"};
  plan = MakePlan(args);
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->workloads.size(), 2u);
  ASSERT_EQ(plan->scale_workloads.size(), 1u);
  EXPECT_EQ(plan->scale_workloads[0].size(), 2u);

  args.scales = {"files=10"};  // neither readdir nor lookup-deep scales with files
  auto none = MakePlan(args);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().context.find("walk-cold"), std::string::npos) << none.error().context;

  args = {};
  args.workloads = {"walk-cold,nonesuch"};
  auto unknown = MakePlan(args);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().context.find("nonesuch"), std::string::npos);

  args = {};
  args.targets = {"kernel,native,kernel"};
  EXPECT_FALSE(MakePlan(args));
  args.targets = {"kernel", "bogus"};
  EXPECT_FALSE(MakePlan(args));
}

TEST(BenchResultsTest, MediansAndSpread) {
  Summary odd = Summarize({3, 1, 2});
  EXPECT_EQ(odd.median, 2);
  EXPECT_EQ(odd.min, 1);
  EXPECT_EQ(odd.max, 3);
  EXPECT_EQ(odd.n, 3u);
  EXPECT_EQ(Summarize({4, 1, 3, 2}).median, 2.5);
  EXPECT_EQ(Summarize({}).n, 0u);
}

// Two workloads on three targets: kernel 1 s and 2 s, stratafs twice and four times that,
// native a tenth, plus a target that could not run and a failed cell.
Results Sample() {
  Results r;
  r.reps = 3;
  r.machine.kernel = "6.18";
  r.machine.cpus = 2;
  for (const char* t : {"stratafs", "kernel", "native", "/opt/none"}) {
    r.targets.push_back({*ParseTarget(t, "/b/stratafs"), ""});
  }
  r.targets[3].unavailable = "/opt/none is not installed";
  r.workloads = {{"a", "workload a", ""}, {"b", "workload b", ""}, {"c", "c", "no fio"}};
  r.cells = {{"a", "kernel", {1, 1.1, 0.9}, ""},
             {"a", "stratafs", {2, 2, 2}, "", {1024, 3072, 2048}},
             {"a", "native", {0.1, 0.1, 0.1}, ""}, {"b", "kernel", {2, 2, 2}, ""},
             {"b", "stratafs", {8, 9, 7}, ""},      {"b", "native", {}, "cp failed"}};
  ScaleResult s{"layers", "a", {1, 8}, {}};
  s.cells = {{"1", "kernel", {0.5}, ""}, {"8", "kernel", {0.7}, ""},
             {"1", "stratafs", {1}, "", {512}}};
  r.scales.push_back(s);
  return r;
}

TEST(BenchResultsTest, RatiosAndGeometricMeans) {
  Results r = Sample();
  EXPECT_DOUBLE_EQ(*r.Ratio("a", "stratafs", "kernel"), 2.0);
  EXPECT_DOUBLE_EQ(*r.Ratio("b", "stratafs", "kernel"), 4.0);
  EXPECT_FALSE(r.Ratio("b", "native", "kernel"));  // failed: no ratio
  EXPECT_FALSE(r.Ratio("c", "stratafs", "kernel"));
  EXPECT_NEAR(*r.GeoMeanRatio("stratafs", "kernel"), std::sqrt(8.0), 1e-12);
  EXPECT_NEAR(*r.GeoMeanRatio("native", "kernel"), 0.1, 1e-12);
  EXPECT_FALSE(r.GeoMeanRatio("/opt/none", "kernel"));
}

TEST(BenchReportTest, TableShowsMediansRatiosAndWhatDidNotRun) {
  const std::string t = FormatTable(Sample());
  EXPECT_NE(t.find("stratafs"), std::string::npos);
  EXPECT_NE(t.find("2000 (2.00)"), std::string::npos) << t;  // a: 2 s, twice kernel
  EXPECT_NE(t.find("8000 (4.00)"), std::string::npos) << t;
  EXPECT_NE(t.find("100 (0.10)"), std::string::npos) << t;
  EXPECT_NE(t.find("failed"), std::string::npos) << t;
  EXPECT_NE(t.find("geomean / kernel"), std::string::npos);
  EXPECT_NE(t.find("2.83"), std::string::npos) << t;  // sqrt(8)
  EXPECT_NE(t.find("not run: /opt/none: /opt/none is not installed"), std::string::npos) << t;
  EXPECT_NE(t.find("not run: c: no fio"), std::string::npos) << t;
  EXPECT_NE(t.find("failed: b on native: cp failed"), std::string::npos) << t;
  EXPECT_NE(t.find("largest 29% (b on stratafs)"), std::string::npos) << t;  // 9 / 7 - 1
  EXPECT_NE(t.find("100 (0.10)          22%\n"), std::string::npos) << t;  // row a: 1.1 / 0.9
  EXPECT_NE(t.find("stratafs / kernel (equal durability): 2.83"), std::string::npos) << t;
  EXPECT_NE(t.find("scale layers (a"), std::string::npos) << t;
  // Daemon memory: the largest peak of the runs, for daemon targets only.
  const size_t mem = t.find("daemon peak RSS (MiB, the largest of the runs):");
  ASSERT_NE(mem, std::string::npos) << t;
  EXPECT_NE(t.find("3.0", mem), std::string::npos) << t;
  EXPECT_EQ(t.find("kernel", mem), t.find("kernel", t.find("scale layers"))) << "no kernel column";
  EXPECT_NE(t.find("1000 [0.5 MiB]"), std::string::npos) << t;
}

TEST(BenchReportTest, JsonHoldsEverySampleAndRatio) {
  const nlohmann::json j = ToJson(Sample());
  EXPECT_EQ(j["reps"], 3);
  EXPECT_EQ(j["machine"]["cpus"], 2);
  ASSERT_EQ(j["targets"].size(), 4u);
  EXPECT_EQ(j["targets"][3]["ran"], false);
  EXPECT_EQ(j["targets"][3]["unavailable"], "/opt/none is not installed");
  EXPECT_NEAR(j["targets"][0]["geomean_ratio_to_kernel"].get<double>(), std::sqrt(8.0), 1e-9);
  ASSERT_EQ(j["cells"].size(), 6u);
  const auto& a = j["cells"][1];
  EXPECT_EQ(a["workload"], "a");
  EXPECT_EQ(a["target"], "stratafs");
  EXPECT_EQ(a["seconds"].size(), 3u);
  EXPECT_DOUBLE_EQ(a["median"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(a["ratio_to_kernel"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(a["ratio_to_native"].get<double>(), 20.0);
  EXPECT_EQ(j["cells"][5]["error"], "cp failed");
  EXPECT_EQ(a["peak_rss_kib"], nlohmann::json({1024, 3072, 2048}));
  EXPECT_FALSE(j["cells"][0].contains("peak_rss_kib")) << "kernel: no daemon";
  EXPECT_EQ(j["workloads"][2]["unavailable"], "no fio");
  ASSERT_EQ(j["scales"].size(), 1u);
  EXPECT_EQ(j["scales"][0]["cells"][1]["point"], 8);
  // Round trip through text: what --json writes parses.
  EXPECT_EQ(nlohmann::json::parse(j.dump(2)), j);
}

TEST(BenchReportTest, JsonReadsBackAsTheSameResults) {
  const Results r = Sample();
  auto back = FromJson(ToJson(r));
  ASSERT_TRUE(back) << back.error().Message();
  EXPECT_EQ(ToJson(*back), ToJson(r));
  EXPECT_EQ(FormatTable(*back), FormatTable(r));
  EXPECT_EQ(back->targets[3].unavailable, "/opt/none is not installed");
  EXPECT_EQ(back->scales[0].cells[1].workload, "8");

  EXPECT_EQ(FromJson(nlohmann::json::object()).error().code, EINVAL);
  nlohmann::json bad = ToJson(r);
  bad["targets"][0]["kind"] = "zfs";
  EXPECT_FALSE(FromJson(bad));
  bad = ToJson(r);
  bad["cells"][0]["seconds"] = "fast";
  EXPECT_FALSE(FromJson(bad));
}

TEST(BenchReportTest, ChartScriptsCarryTheirData) {
  Results r = Sample();
  auto svg = RatioChartScript(r, "/out/c.svg");
  ASSERT_TRUE(svg);
  EXPECT_NE(svg->find("set terminal svg"), std::string::npos);
  EXPECT_NE(svg->find("noenhanced"), std::string::npos) << "names with _ are drawn as they are";
  EXPECT_NE(svg->find("set output \"/out/c.svg\""), std::string::npos);
  EXPECT_NE(svg->find("set logscale y"), std::string::npos);
  // One row per workload, a column per target but kernel: stratafs, native (the unavailable
  // one is not drawn); "?" where there is no ratio.
  EXPECT_NE(svg->find("\"a\" 2.0000 0.1000\n"), std::string::npos) << *svg;
  EXPECT_NE(svg->find("\"b\" 4.0000 ?\n"), std::string::npos) << *svg;
  EXPECT_NE(svg->find("title \"native\""), std::string::npos);
  EXPECT_EQ(svg->find("/opt/none"), std::string::npos);
  auto png = RatioChartScript(r, "c.png");
  ASSERT_TRUE(png);
  EXPECT_NE(png->find("set terminal png"), std::string::npos);
  EXPECT_FALSE(RatioChartScript(r, "c.jpg"));
  EXPECT_FALSE(CheckChartPath("c.pdf"));
  EXPECT_TRUE(CheckChartPath("c.svg"));

  auto scale = ScaleChartScript(r, r.scales[0], ScaleChartPath("/out/c.svg", r.scales[0]));
  ASSERT_TRUE(scale);
  EXPECT_NE(scale->find("/out/c-scale-layers-a.svg"), std::string::npos);
  EXPECT_NE(scale->find("\n1 1.000000 0.500000 ?\n"), std::string::npos) << *scale;
  EXPECT_NE(scale->find("\n8 ? 0.700000 ?\n"), std::string::npos) << *scale;

  // A bar far below the rest ends at 1/100 instead of squeezing the chart.
  Results tiny = r;
  tiny.cells[2].seconds = {1e-6, 1e-6, 1e-6};
  auto cut = RatioChartScript(tiny, "c.svg");
  ASSERT_TRUE(cut);
  EXPECT_NE(cut->find("set yrange [0.01:"), std::string::npos) << *cut;
  EXPECT_NE(cut->find("bars below 0.01x end at the axis"), std::string::npos);
  EXPECT_EQ(svg->find("bars below"), std::string::npos);

  Results no_kernel = r;
  no_kernel.targets[1].unavailable = "needs root";
  EXPECT_FALSE(RatioChartScript(no_kernel, "c.svg"));
}

TEST(BenchMicroTest, JsonPathsPerProgram) {
  EXPECT_EQ(MicroJsonPath("out.json", "/b/bench/core_bench"), "out-core_bench.json");
  EXPECT_EQ(MicroJsonPath("/r.d/out", "store_bench"), "/r.d/out-store_bench");
}

TEST(BenchNativeTest, CopyHardLinksOnlyTheNamedFiles) {
  testing::TempDir dir;
  testing::LayerBuilder base(dir / "base");
  base.File("big/blob", "big").File("big/other", "o").File("a/b/c", "c").File("top", "t");
  ASSERT_TRUE(CopyTreeLinking(base.root(), dir / "copy", {"big/blob"}));
  struct stat orig, copy;
  ASSERT_EQ(::stat((dir / "base/big/blob").c_str(), &orig), 0);
  ASSERT_EQ(::stat((dir / "copy/big/blob").c_str(), &copy), 0);
  EXPECT_EQ(orig.st_ino, copy.st_ino);  // linked
  for (const char* f : {"big/other", "a/b/c", "top"}) {
    ASSERT_EQ(::stat((dir / "base/" + f).c_str(), &orig), 0) << f;
    ASSERT_EQ(::stat((dir / "copy/" + f).c_str(), &copy), 0) << f;
    EXPECT_NE(orig.st_ino, copy.st_ino) << f;  // copied
  }
  std::ifstream in(dir / "copy/a/b/c");
  std::string text;
  in >> text;
  EXPECT_EQ(text, "c");
  // Without links: a plain copy.
  ASSERT_TRUE(CopyTreeLinking(base.root(), dir / "copy2", {}));
  ASSERT_EQ(::stat((dir / "copy2/big/blob").c_str(), &copy), 0);
  ASSERT_EQ(::stat((dir / "base/big/blob").c_str(), &orig), 0);
  EXPECT_NE(orig.st_ino, copy.st_ino);
}

TEST(BenchLayersTest, AnImageNamesWhatTheWorkloadsUse) {
  testing::TempDir dir;
  testing::LayerBuilder lower(dir / "l0"), upper(dir / "l1");
  lower.File("usr/lib/big.so", std::string(2 << 20, 'x'));
  for (int i = 0; i < 5; ++i) lower.File("etc/conf" + std::to_string(i), "c");
  upper.File("usr/bin/tool", "t").File("usr/bin/more", "m").File("usr/share/x", "x");
  auto set = LayersOfImage({upper.root(), lower.root()}, "img:1", "/t.tar");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->big_file, "usr/lib/big.so");
  EXPECT_EQ(set->big_bytes, 2u << 20);
  EXPECT_EQ(set->common_dir, "etc");      // the directory with the most entries
  EXPECT_EQ(set->remove_tree, "etc");     // the top-level directory with the most files
  EXPECT_EQ(set->tarball, "/t.tar");
  EXPECT_FALSE(LayersOfImage({}, "empty", ""));
}

}  // namespace
}  // namespace strata::bench
