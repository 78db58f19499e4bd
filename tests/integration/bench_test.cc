// `strata bench` end to end on this machine: a --quick run of every workload on every target
// completes with a sample in every cell, valid JSON and both charts; scale series; bad
// arguments refused before anything runs; an interrupt leaves no mount and no daemon; the
// micro-benchmarks run through it. No timing is asserted: the numbers are the product.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "fs/base/mount_table.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"

namespace strata::testing {
namespace {

using Json = nlohmann::json;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}


// Processes whose command line names DIR (a daemon serving a mount under it).
std::vector<std::string> ProcessesNaming(const std::string& dir) {
  std::vector<std::string> out;
  DIR* proc = ::opendir("/proc");
  while (const struct dirent* de = proc ? ::readdir(proc) : nullptr) {
    if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
    std::string cmdline = Slurp(std::string("/proc/") + de->d_name + "/cmdline");
    for (char& c : cmdline) c = c == '\0' ? ' ' : c;
    if (cmdline.find(dir) != std::string::npos) out.push_back(std::string(de->d_name) + ": " + cmdline);
  }
  if (proc) ::closedir(proc);
  return out;
}

bool Installed(const std::string& tool) {
  return ::access(("/usr/bin/" + tool).c_str(), X_OK) == 0 ||
         ::access(("/bin/" + tool).c_str(), X_OK) == 0;
}

class BenchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
  }
  void TearDown() override {
    // Whatever a failed run left mounted under our directory (nothing, when it works).
    const std::vector<std::string> left = MountPointsUnder(dir_.path());
    for (auto it = left.rbegin(); it != left.rend(); ++it) ::umount2(it->c_str(), MNT_DETACH);
    EXPECT_TRUE(left.empty()) << left.size() << " mounts left, first " << left[0];
  }

  CommandResult Bench(std::vector<std::string> args, int timeout_ms = 900000) {
    std::vector<std::string> argv = {STRATA_PATH, "bench", "--work", dir_ / "work"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, timeout_ms);
  }

  TempDir dir_;
};

TEST_F(BenchTest, QuickRunMeasuresEveryWorkloadOnEveryTarget) {
  CommandResult r = Bench({"--quick", "--json", dir_ / "out.json", "--chart", dir_ / "out.svg",
                           "--chart", dir_ / "out.png"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("geomean / kernel"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("[1/"), std::string::npos) << "no progress: " << r.err;

  const Json j = Json::parse(Slurp(dir_ / "out.json"));
  EXPECT_EQ(j["quick"], true);
  EXPECT_EQ(j["reps"], 1);
  EXPECT_FALSE(j["machine"]["kernel"].get<std::string>().empty());
  EXPECT_FALSE(j["machine"]["libfuse"].get<std::string>().empty());
  EXPECT_FALSE(j["machine"]["work_fs"].get<std::string>().empty());
  EXPECT_GT(j["machine"]["cpus"].get<int>(), 0);

  // Every default target ran, but a fuse-overlayfs that is not installed (said so).
  std::set<std::string> ran;
  for (const Json& t : j["targets"]) {
    const std::string label = t["label"];
    if (t["ran"]) {
      ran.insert(label);
    } else {
      EXPECT_EQ(label, "/usr/bin/fuse-overlayfs") << t.dump();
      EXPECT_FALSE(Installed("fuse-overlayfs")) << t.dump();
      EXPECT_NE(t["unavailable"].get<std::string>().find("not installed"), std::string::npos);
    }
  }
  for (const char* t : {"stratafs", "stratafs:volatile", "kernel", "native"}) {
    EXPECT_TRUE(ran.count(t)) << t;
  }

  // Every workload ran, but one whose tool is missing here (said so); each ran on every target
  // with one positive sample and no error.
  std::set<std::string> workloads;
  for (const Json& w : j["workloads"]) {
    const std::string name = w["name"];
    if (!w["ran"]) {
      const std::string why = w["unavailable"];
      const bool fio = name.rfind("fio-", 0) == 0 && !Installed("fio");
      const bool podman = name == "podman-start" && (!Installed("podman") || !Installed("busybox"));
      EXPECT_TRUE(fio || podman) << name << " did not run: " << why;
      continue;
    }
    workloads.insert(name);
  }
  EXPECT_GE(workloads.size(), 15u);
  std::map<std::pair<std::string, std::string>, int> seen;
  for (const Json& c : j["cells"]) {
    const std::string w = c["workload"], t = c["target"];
    ++seen[{w, t}];
    EXPECT_FALSE(c.contains("error")) << w << " on " << t << ": " << c.dump();
    ASSERT_EQ(c["seconds"].size(), 1u) << c.dump();
    EXPECT_GT(c["seconds"][0].get<double>(), 0) << c.dump();
    if (t != "kernel") {
      EXPECT_TRUE(c.contains("ratio_to_kernel")) << c.dump();
    }
  }
  for (const std::string& w : workloads) {
    for (const std::string& t : ran) EXPECT_EQ((seen[{w, t}]), 1) << w << " on " << t;
  }

  // The charts: an SVG naming every workload, a PNG.
  const std::string svg = Slurp(dir_ / "out.svg");
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  for (const std::string& w : workloads) EXPECT_NE(svg.find(w), std::string::npos) << w;
  const std::string png = Slurp(dir_ / "out.png");
  ASSERT_GT(png.size(), 8u);
  EXPECT_EQ(png.substr(1, 3), "PNG");

  // The saved JSON reports the same table again, and draws the chart again.
  CommandResult again = RunCommand(
      {STRATA_PATH, "bench", "--from", dir_ / "out.json", "--chart", dir_ / "again.svg"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, r.out);
  EXPECT_NE(Slurp(dir_ / "again.svg").find("<svg"), std::string::npos);

  // Nothing of the run is left but the reusable layers.
  struct stat st;
  EXPECT_NE(::stat((dir_ / "work/run").c_str(), &st), 0);
  EXPECT_TRUE(ProcessesNaming(dir_.path()).empty()) << ProcessesNaming(dir_.path())[0];
}

TEST_F(BenchTest, ScaleSeriesRerunWorkloadsAtEveryPoint) {
  CommandResult r = Bench({"--quick", "--targets", "stratafs,kernel", "--workloads",
                           "readdir,lookup-deep", "--scale", "layers=1,4", "--json",
                           dir_ / "s.json", "--chart", dir_ / "s.svg"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  const Json j = Json::parse(Slurp(dir_ / "s.json"));
  ASSERT_EQ(j["scales"].size(), 2u) << j["scales"].dump();
  for (const Json& s : j["scales"]) {
    EXPECT_EQ(s["kind"], "layers");
    EXPECT_EQ(s["points"], Json::array({1, 4}));
    ASSERT_EQ(s["cells"].size(), 4u) << s.dump();  // 2 points x 2 targets
    for (const Json& c : s["cells"]) {
      EXPECT_FALSE(c.contains("error")) << c.dump();
      EXPECT_EQ(c["seconds"].size(), 1u) << c.dump();
    }
    const std::string chart = dir_ / ("s-scale-layers-" + s["workload"].get<std::string>() + ".svg");
    EXPECT_NE(Slurp(chart).find("<svg"), std::string::npos) << chart;
  }
  EXPECT_NE(r.out.find("scale layers (readdir"), std::string::npos) << r.out;
}

TEST_F(BenchTest, BadArgumentsAreRefusedBeforeAnythingRuns) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--targets", "stratafs,bogus"}, "bogus"},
      {{"--workloads", "walk-warm,nonesuch"}, "nonesuch"},
      {{"--chart", dir_ / "c.jpg"}, ".svg or .png"},
      {{"--scale", "files=1e3", "--workloads", "readdir"}, "scales with files"},
      {{"--scale", "depth=3"}, "layers or files"},
      {{"--targets", "kernel,kernel"}, "twice"},
      {{"--from", dir_ / "missing.json"}, "missing.json"},
      {{"--micro", "--chart", dir_ / "c.svg"}, "excludes"},
  };
  for (const auto& [args, message] : cases) {
    CommandResult r = Bench(args, 60000);
    EXPECT_NE(r.exit_code, 0) << args[1];
    EXPECT_NE(r.err.find(message), std::string::npos) << args[1] << ": " << r.err;
  }
  struct stat st;
  EXPECT_NE(::stat((dir_ / "work").c_str(), &st), 0) << "a refused run made its work directory";
}

TEST_F(BenchTest, AnInterruptUnmountsEverythingAndStopsTheDaemons) {
  int err[2];
  ASSERT_EQ(::pipe2(err, O_CLOEXEC), 0);
  const std::string work = dir_ / "work";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(err[1], STDERR_FILENO);
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    ::execl(STRATA_PATH, STRATA_PATH, "bench", "--work", work.c_str(), "--quick", "--reps", "200",
            "--targets", "stratafs,kernel", "--workloads", "walk-warm,readdir",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(err[1]);
  // Interrupt once a few runs are done (the mounts come and go in each).
  std::string said;
  bool interrupted = false;
  for (int waited = 0; waited < 300000 && !interrupted;) {
    struct pollfd p = {err[0], POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) {
      waited += 100;
      continue;
    }
    char buf[4096];
    const ssize_t n = ::read(err[0], buf, sizeof buf);
    if (n <= 0) break;
    said.append(buf, static_cast<size_t>(n));
    if (said.find("[5/") != std::string::npos) {
      ASSERT_EQ(::kill(pid, SIGINT), 0);  // our own child
      interrupted = true;
    }
  }
  for (;;) {  // the rest of what it says
    char buf[4096];
    const ssize_t n = ::read(err[0], buf, sizeof buf);
    if (n <= 0) break;
    said.append(buf, static_cast<size_t>(n));
  }
  ::close(err[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(interrupted) << said;
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_NE(said.find("interrupted"), std::string::npos) << said;
  EXPECT_TRUE(MountPointsUnder(work).empty());
  EXPECT_TRUE(ProcessesNaming(work).empty()) << ProcessesNaming(work)[0];
  struct stat st;
  EXPECT_NE(::stat((work + "/run").c_str(), &st), 0);
}

TEST_F(BenchTest, MicroBenchmarksRunThroughStrataBench) {
#ifndef STRATA_HAVE_MICRO
  GTEST_SKIP() << "built with -DSTRATA_BUILD_BENCH=OFF: no micro-benchmark programs";
#endif
  CommandResult r = Bench({"--micro", "--filter", "BM_Sha256/4096|BM_MergedReaddir/1/|BM_CopyUp/1/",
                           "--json", dir_ / "micro.json"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  std::set<std::string> names;
  for (const char* program : {"core_bench", "store_bench"}) {
    const Json j = Json::parse(Slurp(dir_ / (std::string("micro-") + program + ".json")));
    for (const Json& b : j["benchmarks"]) names.insert(b["name"].get<std::string>());
  }
  EXPECT_TRUE(names.count("BM_Sha256/4096")) << r.out;
  EXPECT_TRUE(names.count("BM_MergedReaddir/1/10000")) << r.out;
  EXPECT_TRUE(names.count("BM_CopyUp/1/1/real_time")) << r.out;
  // Their files went under --work, and nothing is left there.
  struct stat st;
  ASSERT_EQ(::stat((dir_ / "work").c_str(), &st), 0) << "--micro ignored --work";
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "work"));
}

}  // namespace
}  // namespace strata::testing
