#include "bench/engine/runner.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "bench/engine/native.h"
#include "bench/engine/podman.h"
#include "bench/engine/system.h"
#include "bench/engine/targets.h"

namespace strata::bench {
namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

// SIGINT and SIGTERM set g_stop while a run is under way.
class StopOnSignal {
 public:
  StopOnSignal() {
    g_stop.store(false);
    struct sigaction sa = {};
    sa.sa_handler = OnSignal;
    sa.sa_flags = SA_RESTART;  // the step under way finishes; then the run stops
    ::sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopOnSignal() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ = {}, old_term_ = {};
};

std::string Ms(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", seconds * 1000);
  return buf;
}

bool IsUnder(const std::string& path, const std::string& tree) {
  return tree.empty() || path == tree || path.rfind(tree + "/", 0) == 0;
}

class Runner {
 public:
  Runner(const Plan& plan, const Progress& progress)
      : plan_(plan),
        progress_(progress),
        work_(plan.args.work_dir.empty() ? "/var/tmp/strata-bench" : plan.args.work_dir),
        run_dir_(work_ + "/run") {}

  Result<Results> Run();

 private:
  Status RunAll();
  void Say(const std::string& line) {
    if (progress_) progress_(line);
  }
  Status Interrupted() const {
    return g_stop.load() ? Status(Fail(EINTR, "interrupted")) : Ok();
  }
  std::string LayersRoot() const { return work_ + (plan_.args.quick ? "/layers-quick" : "/layers"); }

  Status Prepare();
  std::string WhyNot(const Workload& w, const LayerSet& set) const;
  // The native base of SET, made on first use.
  Result<std::string> NativeBase(const LayerSet& set);
  // One run's measurement: its time, and its daemon's peak memory (0: no daemon).
  struct Sample {
    double seconds = 0;
    uint64_t peak_rss_kib = 0;
  };
  // One timed run of W on target T over SET.
  Result<Sample> RunOnce(const Workload& w, const TargetSpec& t, const LayerSet& set);
  Result<Sample> Timed(const Workload& w, const TargetSpec& t, const LayerSet& set);
  // Every repetition of W over SET on each target that ran, into CELLS (POINT names the
  // cells of a scale series; empty: the workload's name).
  Status Repeat(const Workload& w, const LayerSet& set, const std::string& point,
                std::vector<Cell>* cells);
  Status RepeatPodman(const Workload& w, std::vector<Cell>* cells);
  // The repetitions of one row: ONCE times one run on a target, in the rotated order, into
  // the row's cells from FIRST on; a target that failed once is not run again.
  Status Rotate(const std::string& what, size_t first, std::vector<Cell>* cells,
                const std::function<Result<Sample>(const TargetSpec&)>& once);
  std::vector<const TargetSpec*> Rotated(int rep) const;

  const Plan& plan_;
  Progress progress_;
  std::string work_, run_dir_;
  Results results_;
  std::vector<const TargetSpec*> ran_;  // the targets that can run here
  TargetSpec reference_;                // makes native bases
  LayerSet main_, deep_;
  std::map<std::string, std::string> native_bases_;  // layer set dir -> base
  size_t step_ = 0, steps_ = 0;
};

std::vector<const TargetSpec*> Runner::Rotated(int rep) const {
  std::vector<const TargetSpec*> order = ran_;
  if (!order.empty()) {
    std::rotate(order.begin(), order.begin() + static_cast<long>(rep % order.size()),
                order.end());
  }
  return order;
}

std::string Runner::WhyNot(const Workload& w, const LayerSet& set) const {
  if (w.unavailable) {
    std::string why = w.unavailable(set);
    if (!why.empty()) return why;
  }
  if (w.cold && ::geteuid() != 0) return "dropping the caches needs root";
  return "";
}

Status Runner::Prepare() {
  STRATA_RETURN_IF_ERROR(MakeDirs(work_));
  // A run that was killed may have left its mounts under our work directory: ours to remove.
  const std::vector<std::string> left = MountsUnder(work_);
  for (auto it = left.rbegin(); it != left.rend(); ++it) {
    Say("unmounting " + *it + ", left by an earlier run");
    STRATA_RETURN_IF_ERROR(Unmount(*it));
  }
  STRATA_RETURN_IF_ERROR(RemoveTree(run_dir_));

  results_.machine = DescribeMachine(work_);
  results_.command = plan_.args.command;
  results_.reps = plan_.reps;
  results_.quick = plan_.args.quick;
  for (const TargetSpec& t : plan_.targets) {
    results_.targets.push_back({t, Unavailable(t)});
    if (!results_.targets.back().unavailable.empty()) {
      Say("not running " + t.label + ": " + results_.targets.back().unavailable);
    }
  }
  for (const TargetResult& t : results_.targets) {
    if (t.unavailable.empty()) {
      for (const TargetSpec& spec : plan_.targets) {
        if (spec.label == t.spec.label) ran_.push_back(&spec);
      }
    }
  }
  if (ran_.empty()) return Fail(ENODEV, "none of the targets can run here");
  // Native bases are made through the reference: kernel overlayfs where it can mount, else
  // this stratafs.
  auto parsed = ParseTarget(::geteuid() == 0 ? "kernel" : "stratafs", plan_.args.stratafs);
  if (!parsed) return Unexpected{parsed.error()};
  reference_ = *parsed;

  const std::string layers = LayersRoot();
  STRATA_RETURN_IF_ERROR(MakeDirs(layers));
  STRATA_ASSIGN_OR_RETURN(main_, BuildMainLayers(layers + "/main", plan_.args.quick, progress_));
  if (!plan_.args.image_lowers.empty()) {
    STRATA_ASSIGN_OR_RETURN(main_, LayersOfImage(plan_.args.image_lowers, plan_.args.image_label,
                                                 main_.tarball));
  }
  results_.layers = main_.description;
  for (const Workload* w : plan_.workloads) {
    if (w->deep && deep_.lowers.empty()) {
      STRATA_ASSIGN_OR_RETURN(deep_, BuildDeepLayers(layers + "/deep", plan_.args.quick));
      results_.layers += "; deep: " + deep_.description;
    }
  }
  return Ok();
}

Result<std::string> Runner::NativeBase(const LayerSet& set) {
  const std::string key = set.dir.empty() ? "image" : set.dir;
  if (auto it = native_bases_.find(key); it != native_bases_.end()) return it->second;
  const std::string base = set.dir.empty() ? work_ + "/native-image" : set.dir + "/native";
  STRATA_RETURN_IF_ERROR(MakeNativeBase(set, reference_, base, work_ + "/native-scratch", progress_));
  native_bases_[key] = base;
  return base;
}

Result<Runner::Sample> Runner::Timed(const Workload& w, const TargetSpec& t,
                                     const LayerSet& set) {
  MountRequest request;
  request.layers = &set;
  request.upper = run_dir_ + "/upper";
  request.work = run_dir_ + "/work";
  request.mountpoint = run_dir_ + "/mnt";
  const std::string scratch = run_dir_ + "/scratch";
  for (const std::string& d : {request.upper, request.work, request.mountpoint, scratch}) {
    STRATA_RETURN_IF_ERROR(MakeDirs(d));
  }
  if (t.kind == TargetKind::kNative) {
    STRATA_ASSIGN_OR_RETURN(std::string base, NativeBase(set));
    request.native_root = base;
    if (w.mutates) {
      // A fresh copy; the big files hard-linked unless the workload changes them.
      std::vector<std::string> links;
      for (const std::string& f : {set.big_file, set.fio_file}) {
        const bool changed =
            w.in_place == Workload::InPlace::kBigFiles ||
            (w.in_place == Workload::InPlace::kSmallTree && IsUnder(f, set.small_tree));
        if (!f.empty() && !changed) links.push_back(f);
      }
      request.native_root = run_dir_ + "/native";
      STRATA_RETURN_IF_ERROR(CopyTreeLinking(base, request.native_root, links));
    }
  }
  STRATA_ASSIGN_OR_RETURN(std::unique_ptr<Mounted> mounted, MountTarget(t, request));
  Env env;
  env.root = mounted->root();
  env.layers = &set;
  env.cpus = results_.machine.cpus;
  env.quick = plan_.args.quick;
  env.scratch = scratch;
  // What earlier runs left dirty is written back now, not during this one's timing.
  ::sync();
  if (w.cold && !DropCaches()) return Fail(EPERM, "could not drop the caches");
  if (w.warmup) STRATA_RETURN_IF_ERROR(w.warmup(env));
  const double start = Now();
  Status ran = w.run(env);
  const double seconds = Now() - start;
  const uint64_t peak = mounted->DaemonPeakRssKib();
  Status closed = mounted->Close();
  STRATA_RETURN_IF_ERROR(ran);
  STRATA_RETURN_IF_ERROR(closed);
  return Sample{seconds, peak};
}

Result<Runner::Sample> Runner::RunOnce(const Workload& w, const TargetSpec& t,
                                       const LayerSet& set) {
  STRATA_RETURN_IF_ERROR(RemoveTree(run_dir_));
  Result<Sample> r = Timed(w, t, set);
  // Whatever the outcome, nothing of this run stays (a failed mount leaves no mount point).
  Status cleaned = RemoveTree(run_dir_);
  if (r && !cleaned) return Unexpected{cleaned.error()};
  return r;
}

Status Runner::Repeat(const Workload& w, const LayerSet& set, const std::string& point,
                      std::vector<Cell>* cells) {
  const std::string name = point.empty() ? w.name : point;
  const size_t first = cells->size();
  for (const TargetSpec* t : ran_) cells->push_back({name, t->label, {}, ""});
  return Rotate(w.name + (point.empty() ? "" : " " + set.name), first, cells,
                [&](const TargetSpec& t) { return RunOnce(w, t, set); });
}

Status Runner::Rotate(const std::string& what, size_t first, std::vector<Cell>* cells,
                      const std::function<Result<Sample>(const TargetSpec&)>& once) {
  for (int rep = 0; rep < plan_.reps; ++rep) {
    for (const TargetSpec* t : Rotated(rep)) {
      STRATA_RETURN_IF_ERROR(Interrupted());
      Cell* cell = nullptr;
      for (size_t i = first; i < cells->size(); ++i) {
        if ((*cells)[i].target == t->label) cell = &(*cells)[i];
      }
      ++step_;
      if (!cell->error.empty()) continue;  // failed before: not retried
      Result<Sample> r = once(*t);
      STRATA_RETURN_IF_ERROR(Interrupted());
      const std::string head = "[" + std::to_string(step_) + "/" + std::to_string(steps_) + "] " +
                               what + " on " + t->label + ", run " + std::to_string(rep + 1) +
                               ": ";
      if (r) {
        cell->seconds.push_back(r->seconds);
        if (r->peak_rss_kib > 0) cell->peak_rss_kib.push_back(r->peak_rss_kib);
        Say(head + Ms(r->seconds) +
            (r->peak_rss_kib > 0
                 ? ", daemon peak " + std::to_string((r->peak_rss_kib + 512) / 1024) + " MiB"
                 : ""));
      } else {
        cell->error = r.error().Message();
        Say(head + "failed: " + cell->error);
      }
    }
  }
  return Ok();
}

Status Runner::RepeatPodman(const Workload& w, std::vector<Cell>* cells) {
  const std::string dir = run_dir_ + "/podman";
  STRATA_RETURN_IF_ERROR(RemoveTree(dir));
  STRATA_RETURN_IF_ERROR(MakeBusyboxRootfs(dir + "/rootfs", dir + "/rootfs.tar"));
  const size_t first = cells->size();
  std::map<std::string, std::unique_ptr<PodmanStore>> stores;
  for (const TargetSpec* t : ran_) {
    cells->push_back({w.name, t->label, {}, ""});
    STRATA_RETURN_IF_ERROR(Interrupted());
    Say("podman storage on " + t->label + ": importing the image, one untimed run");
    auto store = PodmanStore::Create(*t, dir + "/store-" + std::to_string(stores.size()),
                                     dir + "/rootfs.tar");
    Status warm = store ? (*store)->RunOnce() : Status(Unexpected{store.error()});
    if (!warm) {
      cells->back().error = warm.error().Message();
      Say("podman on " + t->label + " failed: " + cells->back().error);
    }
    if (store) stores[t->label] = std::move(*store);
  }
  Status s = Rotate(w.name, first, cells, [&](const TargetSpec& t) -> Result<Sample> {
    const double start = Now();
    STRATA_RETURN_IF_ERROR(stores[t.label]->RunOnce());
    return Sample{Now() - start, 0};
  });
  stores.clear();  // podman's containers, images and mounts removed
  Status cleaned = RemoveTree(dir);
  STRATA_RETURN_IF_ERROR(s);
  return cleaned;
}

Result<Results> Runner::Run() {
  Status s = RunAll();
  // Interrupted or not, nothing of a run stays but the reusable layers.
  Status cleaned = RemoveTree(run_dir_);
  STRATA_RETURN_IF_ERROR(s);
  STRATA_RETURN_IF_ERROR(cleaned);
  return std::move(results_);
}

Status Runner::RunAll() {
  STRATA_RETURN_IF_ERROR(Prepare());
  // What will run, for the progress count.
  std::vector<const Workload*> runnable;
  for (const Workload* w : plan_.workloads) {
    const std::string why = WhyNot(*w, w->deep ? deep_ : main_);
    results_.workloads.push_back({w->name, w->description, why});
    if (why.empty()) {
      runnable.push_back(w);
    } else {
      Say("not running " + w->name + ": " + why);
    }
  }
  // A series reruns the workloads of it that can run here.
  std::vector<std::vector<const Workload*>> scale_workloads;
  for (const auto& chosen : plan_.scale_workloads) {
    scale_workloads.emplace_back();
    for (const Workload* w : chosen) {
      if (std::find(runnable.begin(), runnable.end(), w) != runnable.end()) {
        scale_workloads.back().push_back(w);
      }
    }
  }
  steps_ = runnable.size() * ran_.size() * static_cast<size_t>(plan_.reps);
  for (size_t i = 0; i < plan_.scales.size(); ++i) {
    steps_ += scale_workloads[i].size() * plan_.scales[i].points.size() * ran_.size() *
              static_cast<size_t>(plan_.reps);
  }
  for (const Workload* w : runnable) {
    if (w->container) {
      STRATA_RETURN_IF_ERROR(RepeatPodman(*w, &results_.cells));
    } else {
      STRATA_RETURN_IF_ERROR(Repeat(*w, w->deep ? deep_ : main_, "", &results_.cells));
    }
  }
  for (size_t i = 0; i < plan_.scales.size(); ++i) {
    const ScaleSeries& series = plan_.scales[i];
    for (const Workload* w : scale_workloads[i]) {
      ScaleResult sr{series.kind, w->name, series.points, {}};
      for (uint64_t n : series.points) {
        const std::string point = std::to_string(n);
        Say("the " + series.kind + "=" + point + " layers");
        STRATA_ASSIGN_OR_RETURN(
            LayerSet set,
            BuildScaleLayers(LayersRoot() + "/scale-" + series.kind + "-" + point, series.kind,
                             n));
        STRATA_RETURN_IF_ERROR(Repeat(*w, set, point, &sr.cells));
      }
      results_.scales.push_back(std::move(sr));
    }
  }
  return Ok();
}

}  // namespace

Result<Plan> MakePlan(const BenchArgs& args) {
  Plan plan;
  plan.args = args;
  if (args.reps < 0 || args.reps > 1000) return Fail(EINVAL, "--reps: from 1 to 1000");
  plan.reps = args.reps > 0 ? args.reps : (args.quick ? 1 : 3);
  std::set<std::string> labels;
  std::vector<std::string> specs;
  for (const std::string& list : args.targets) {
    for (std::string& spec : SplitTargets(list)) specs.push_back(std::move(spec));
  }
  if (specs.empty()) specs = DefaultTargets();
  for (const std::string& spec : specs) {
    STRATA_ASSIGN_OR_RETURN(TargetSpec t, ParseTarget(spec, args.stratafs));
    if (!labels.insert(t.label).second) return Fail(EINVAL, "target '" + spec + "' given twice");
    plan.targets.push_back(std::move(t));
  }
  std::vector<std::string> names;
  for (const std::string& list : args.workloads) {
    for (std::string& name : SplitList(list)) names.push_back(std::move(name));
  }
  if (names.empty()) {
    for (const Workload& w : AllWorkloads()) plan.workloads.push_back(&w);
  } else {
    for (const std::string& name : names) {
      const Workload* w = FindWorkload(name);
      if (w == nullptr) {
        std::string known;
        for (const Workload& k : AllWorkloads()) known += (known.empty() ? "" : ", ") + k.name;
        return Fail(EINVAL, "no workload '" + name + "' (there are " + known + ")");
      }
      if (std::find(plan.workloads.begin(), plan.workloads.end(), w) == plan.workloads.end()) {
        plan.workloads.push_back(w);
      }
    }
  }
  for (const std::string& spec : args.scales) {
    STRATA_ASSIGN_OR_RETURN(ScaleSeries s, ParseScale(spec));
    std::vector<const Workload*> chosen;
    std::string could;
    for (const Workload& w : AllWorkloads()) {
      if (std::find(w.scale.begin(), w.scale.end(), s.kind) == w.scale.end()) continue;
      could += (could.empty() ? "" : ", ") + w.name;
      if (std::find(plan.workloads.begin(), plan.workloads.end(), &w) != plan.workloads.end()) {
        chosen.push_back(&w);
      }
    }
    if (chosen.empty()) {
      return Fail(EINVAL, "--scale " + spec + ": none of the chosen workloads scales with " +
                              s.kind + " (" + could + " do)");
    }
    plan.scales.push_back(std::move(s));
    plan.scale_workloads.push_back(std::move(chosen));
  }
  return plan;
}

Result<Results> RunPlan(const Plan& plan, const Progress& progress) {
  StopOnSignal stop;
  Runner runner(plan, progress);
  return runner.Run();
}

}  // namespace strata::bench
