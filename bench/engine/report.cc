#include "bench/engine/report.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace strata::bench {
namespace {

using Json = nlohmann::json;

std::string Fixed(double v, int decimals);
std::string Mib(uint64_t kib) { return Fixed(static_cast<double>(kib) / 1024, 1); }

std::string Fixed(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// Milliseconds with three significant digits or more: 1234, 123, 12.3, 1.23, 0.123.
std::string Millis(double seconds) {
  const double ms = seconds * 1000;
  return Fixed(ms, ms >= 100 ? 0 : ms >= 10 ? 1 : ms >= 1 ? 2 : 3);
}

std::string Pad(const std::string& s, size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

bool Ran(const TargetResult& t) { return t.unavailable.empty(); }

const char* KindName(TargetKind k) {
  switch (k) {
    case TargetKind::kStratafs:
      return "stratafs";
    case TargetKind::kFuseCompatible:
      return "fuse-compatible";
    case TargetKind::kKernel:
      return "kernel";
    case TargetKind::kNative:
      return "native";
  }
  return "?";
}

// The label of the kernel target, if it ran (ratios are to it).
std::string KernelLabel(const Results& r) {
  for (const TargetResult& t : r.targets) {
    if (t.spec.kind == TargetKind::kKernel && Ran(t)) return t.spec.label;
  }
  return "";
}

std::string NativeLabel(const Results& r) {
  for (const TargetResult& t : r.targets) {
    if (t.spec.kind == TargetKind::kNative && Ran(t)) return t.spec.label;
  }
  return "";
}

std::string Escape(const std::string& s) {  // for a gnuplot string in double quotes
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

Result<std::string> Terminal(const std::string& output, int width, int height) {
  const auto ends = [&](const char* ext) {
    const std::string e = ext;
    return output.size() > e.size() && output.compare(output.size() - e.size(), e.size(), e) == 0;
  };
  const std::string size = std::to_string(width) + "," + std::to_string(height);
  // noenhanced: names are printed as they are ("io_uring" is not "io" with a subscript).
  if (ends(".svg")) return "set terminal svg size " + size + " dynamic font 'sans,11' noenhanced\n";
  if (ends(".png")) return "set terminal png size " + size + " noenhanced\n";
  return Fail(EINVAL, "chart '" + output + "': the file must end in .svg or .png");
}

}  // namespace

Status CheckChartPath(const std::string& path) {
  auto t = Terminal(path, 100, 100);
  if (!t) return Unexpected{t.error()};
  return Ok();
}

std::string DisplayName(const TargetSpec& spec) {
  // Binaries given by path are named by their file name (with their options).
  if (spec.binary.empty() || spec.label.empty() || spec.label[0] != '/') return spec.label;
  const size_t slash = spec.binary.rfind('/');
  std::string name = slash == std::string::npos ? spec.binary : spec.binary.substr(slash + 1);
  if (!spec.options.empty()) name += ":" + spec.options;
  return name;
}

std::string FormatTable(const Results& r) {
  std::ostringstream out;
  const std::string kernel = KernelLabel(r);
  std::vector<const TargetResult*> ran;
  for (const TargetResult& t : r.targets) {
    if (Ran(t)) ran.push_back(&t);
  }
  if (!r.machine.kernel.empty()) {
    out << "machine: " << r.machine.cpus << " CPUs (" << r.machine.cpu << "), Linux "
        << r.machine.kernel << ", libfuse " << r.machine.libfuse << ", layers and uppers on "
        << r.machine.work_fs << (r.machine.work_device.empty() ? "" : " (" + r.machine.work_device + ")")
        << "\n";
  }
  if (!r.layers.empty()) out << "layers: " << r.layers << "\n\n";
  size_t name_width = 22;
  for (const WorkloadInfo& w : r.workloads) name_width = std::max(name_width, w.name.size() + 2);
  const size_t col = 20;
  out << Pad("workload", name_width);
  for (const TargetResult* t : ran) out << Pad(DisplayName(t->spec), col);
  out << (r.reps > 1 ? "spread" : "") << "\n";
  for (const WorkloadInfo& w : r.workloads) {
    if (!w.unavailable.empty()) continue;  // listed under "not run"
    out << Pad(w.name, name_width);
    double spread = 0;  // the widest max/min - 1 of the row
    for (const TargetResult* t : ran) {
      const Cell* c = r.Find(w.name, t->spec.label);
      std::string v;
      if (!c || c->seconds.empty()) {
        v = c && !c->error.empty() ? "failed" : "-";
      } else {
        const Summary s = Summarize(c->seconds);
        if (s.min > 0) spread = std::max(spread, s.max / s.min - 1);
        v = Millis(s.median);
        auto ratio = kernel.empty() ? std::nullopt : r.Ratio(w.name, t->spec.label, kernel);
        if (ratio && t->spec.label != kernel) v += " (" + Fixed(*ratio, 2) + ")";
      }
      out << Pad(v, col);
    }
    if (r.reps > 1) out << Fixed(spread * 100, 0) << "%";
    out << "\n";
  }
  if (!kernel.empty()) {
    out << Pad("geomean / kernel", name_width);
    for (const TargetResult* t : ran) {
      auto g = r.GeoMeanRatio(t->spec.label, kernel);
      out << Pad(g ? Fixed(*g, 2) : "-", col);
    }
    out << "\n";
  }
  out << "(median ms of " << r.reps << " run" << (r.reps == 1 ? "" : "s")
      << " each, targets interleaved; in brackets the ratio to kernel overlayfs"
      << (r.reps > 1 ? "; spread: the row's widest max/min - 1" : "") << ")\n";

  // The spread: how far the fastest and slowest runs were from each other.
  out << "\nspread (max/min - 1):";
  double worst = 0;
  std::string worst_at;
  for (const Cell& c : r.cells) {
    const Summary s = Summarize(c.seconds);
    if (s.n > 1 && s.min > 0 && s.max / s.min - 1 > worst) {
      worst = s.max / s.min - 1;
      worst_at = c.workload + " on " + c.target;
    }
  }
  out << (worst_at.empty() ? " n/a (one run each)"
                           : " largest " + Fixed(worst * 100, 0) + "% (" + worst_at + ")")
      << "\n";

  // Like with like: each stratafs target against every target of the same durability.
  out << "\ndurability: ";
  bool first = true;
  for (const TargetResult* t : ran) {
    out << (first ? "" : "; ") << DisplayName(t->spec) << " "
        << (t->spec.kind == TargetKind::kNative ? "(no copy-up)"
            : t->spec.durable                   ? "fsyncs copy-up"
                                                : "does not fsync copy-up");
    first = false;
  }
  out << "\n";
  for (const TargetResult* s : ran) {
    if (s->spec.kind != TargetKind::kStratafs) continue;
    for (const TargetResult* o : ran) {
      if (o == s || o->spec.durable != s->spec.durable || o->spec.kind == TargetKind::kNative) {
        continue;
      }
      if (o->spec.kind == TargetKind::kStratafs && o->spec.label < s->spec.label) continue;
      if (auto g = r.GeoMeanRatio(s->spec.label, o->spec.label)) {
        out << "  " << DisplayName(s->spec) << " / " << DisplayName(o->spec)
            << " (equal durability): " << Fixed(*g, 2) << " (geomean)\n";
      }
    }
  }
  for (const TargetResult& t : r.targets) {
    if (!Ran(t)) out << "not run: " << t.spec.label << ": " << t.unavailable << "\n";
  }
  for (const WorkloadInfo& w : r.workloads) {
    if (!w.unavailable.empty()) out << "not run: " << w.name << ": " << w.unavailable << "\n";
  }
  for (const Cell& c : r.cells) {
    if (!c.error.empty()) out << "failed: " << c.workload << " on " << c.target << ": " << c.error
                              << "\n";
  }
  // Memory: what each daemon held at most (the kernel's inode cache keeps every node looked up).
  std::vector<const TargetResult*> daemons;
  for (const TargetResult* t : ran) {
    for (const Cell& c : r.cells) {
      if (c.target == t->spec.label && !c.peak_rss_kib.empty()) {
        daemons.push_back(t);
        break;
      }
    }
  }
  if (!daemons.empty()) {
    out << "\ndaemon peak RSS (MiB, the largest of the runs):\n" << Pad("workload", name_width);
    for (const TargetResult* t : daemons) out << Pad(DisplayName(t->spec), col);
    out << "\n";
    for (const WorkloadInfo& w : r.workloads) {
      if (!w.unavailable.empty()) continue;
      out << Pad(w.name, name_width);
      for (const TargetResult* t : daemons) {
        const Cell* c = r.Find(w.name, t->spec.label);
        out << Pad(c && !c->peak_rss_kib.empty() ? Mib(MaxPeakRss(*c)) : "-", col);
      }
      out << "\n";
    }
  }
  for (const ScaleResult& s : r.scales) {
    out << "\nscale " << s.kind << " (" << s.workload
        << ", median ms; a daemon's peak RSS in brackets):\n";
    out << Pad(s.kind, name_width);
    for (const TargetResult* t : ran) out << Pad(DisplayName(t->spec), col);
    out << "\n";
    for (uint64_t p : s.points) {
      out << Pad(std::to_string(p), name_width);
      for (const TargetResult* t : ran) {
        std::string v = "-";
        for (const Cell& c : s.cells) {
          if (c.workload == std::to_string(p) && c.target == t->spec.label && !c.seconds.empty()) {
            v = Millis(Summarize(c.seconds).median);
            if (!c.peak_rss_kib.empty()) v += " [" + Mib(MaxPeakRss(c)) + " MiB]";
          }
        }
        out << Pad(v, col);
      }
      out << "\n";
    }
  }
  return out.str();
}

Json ToJson(const Results& r) {
  const std::string kernel = KernelLabel(r), native = NativeLabel(r);
  Json j;
  j["command"] = r.command;
  j["reps"] = r.reps;
  j["quick"] = r.quick;
  j["layers"] = r.layers;
  j["machine"] = {{"kernel", r.machine.kernel},   {"cpu", r.machine.cpu},
                  {"cpus", r.machine.cpus},       {"libfuse", r.machine.libfuse},
                  {"work_fs", r.machine.work_fs}, {"work_device", r.machine.work_device},
                  {"date", r.machine.date}};
  j["targets"] = Json::array();
  for (const TargetResult& t : r.targets) {
    Json tj = {{"label", t.spec.label},
               {"name", DisplayName(t.spec)},
               {"kind", KindName(t.spec.kind)},
               {"binary", t.spec.binary},
               {"options", t.spec.options},
               {"durable", t.spec.durable},
               {"ran", Ran(t)}};
    if (!Ran(t)) tj["unavailable"] = t.unavailable;
    if (!kernel.empty() && Ran(t)) {
      if (auto g = r.GeoMeanRatio(t.spec.label, kernel)) tj["geomean_ratio_to_kernel"] = *g;
    }
    j["targets"].push_back(std::move(tj));
  }
  j["workloads"] = Json::array();
  for (const WorkloadInfo& w : r.workloads) {
    Json wj = {{"name", w.name}, {"description", w.description}, {"ran", w.unavailable.empty()}};
    if (!w.unavailable.empty()) wj["unavailable"] = w.unavailable;
    j["workloads"].push_back(std::move(wj));
  }
  auto cell_json = [&](const Cell& c, bool ratios) {
    const Summary s = Summarize(c.seconds);
    Json cj = {{"workload", c.workload}, {"target", c.target}, {"seconds", c.seconds}};
    if (!c.peak_rss_kib.empty()) cj["peak_rss_kib"] = c.peak_rss_kib;
    if (s.n > 0) cj["median"] = s.median, cj["min"] = s.min, cj["max"] = s.max;
    if (!c.error.empty()) cj["error"] = c.error;
    if (ratios && !kernel.empty()) {
      if (auto v = r.Ratio(c.workload, c.target, kernel)) cj["ratio_to_kernel"] = *v;
    }
    if (ratios && !native.empty()) {
      if (auto v = r.Ratio(c.workload, c.target, native)) cj["ratio_to_native"] = *v;
    }
    return cj;
  };
  j["cells"] = Json::array();
  for (const Cell& c : r.cells) j["cells"].push_back(cell_json(c, true));
  j["scales"] = Json::array();
  for (const ScaleResult& s : r.scales) {
    Json sj = {{"kind", s.kind}, {"workload", s.workload}, {"points", s.points}};
    sj["cells"] = Json::array();
    for (const Cell& c : s.cells) {
      Json cj = cell_json(c, false);
      cj["point"] = std::stoull(c.workload);
      cj.erase("workload");
      sj["cells"].push_back(std::move(cj));
    }
    j["scales"].push_back(std::move(sj));
  }
  return j;
}

Result<Results> FromJson(const Json& j) {
  // The parsing throws on a missing field or a wrong type; nothing escapes this function.
  try {
    Results r;
    r.command = j.at("command").get<std::string>();
    r.reps = j.at("reps").get<int>();
    r.quick = j.at("quick").get<bool>();
    r.layers = j.at("layers").get<std::string>();
    const Json& m = j.at("machine");
    r.machine = {m.at("kernel").get<std::string>(),  m.at("cpu").get<std::string>(),
                 m.at("cpus").get<int>(),            m.at("libfuse").get<std::string>(),
                 m.at("work_fs").get<std::string>(), m.value("work_device", std::string()),
                 m.at("date").get<std::string>()};
    for (const Json& t : j.at("targets")) {
      TargetResult tr;
      tr.spec.label = t.at("label").get<std::string>();
      const std::string kind = t.at("kind").get<std::string>();
      if (kind == "stratafs") {
        tr.spec.kind = TargetKind::kStratafs;
      } else if (kind == "fuse-compatible") {
        tr.spec.kind = TargetKind::kFuseCompatible;
      } else if (kind == "kernel") {
        tr.spec.kind = TargetKind::kKernel;
      } else if (kind == "native") {
        tr.spec.kind = TargetKind::kNative;
      } else {
        return Fail(EINVAL, "target " + tr.spec.label + ": unknown kind '" + kind + "'");
      }
      tr.spec.binary = t.at("binary").get<std::string>();
      tr.spec.options = t.at("options").get<std::string>();
      tr.spec.durable = t.at("durable").get<bool>();
      if (!t.at("ran").get<bool>()) tr.unavailable = t.at("unavailable").get<std::string>();
      r.targets.push_back(std::move(tr));
    }
    for (const Json& w : j.at("workloads")) {
      r.workloads.push_back({w.at("name").get<std::string>(),
                             w.at("description").get<std::string>(),
                             w.value("unavailable", std::string())});
    }
    auto cell = [](const Json& c, std::string workload) {
      return Cell{std::move(workload), c.at("target").get<std::string>(),
                  c.at("seconds").get<std::vector<double>>(), c.value("error", std::string()),
                  c.value("peak_rss_kib", std::vector<uint64_t>())};
    };
    for (const Json& c : j.at("cells")) {
      r.cells.push_back(cell(c, c.at("workload").get<std::string>()));
    }
    for (const Json& s : j.at("scales")) {
      ScaleResult sr{s.at("kind").get<std::string>(), s.at("workload").get<std::string>(),
                     s.at("points").get<std::vector<uint64_t>>(), {}};
      for (const Json& c : s.at("cells")) {
        sr.cells.push_back(cell(c, std::to_string(c.at("point").get<uint64_t>())));
      }
      r.scales.push_back(std::move(sr));
    }
    return r;
  } catch (const Json::exception& e) {
    return Fail(EINVAL, std::string("not the JSON of strata bench: ") + e.what());
  }
}

Result<std::string> RatioChartScript(const Results& r, const std::string& output) {
  const std::string kernel = KernelLabel(r);
  if (kernel.empty()) return Fail(EINVAL, "no chart: kernel overlayfs did not run");
  std::vector<const TargetResult*> shown;
  for (const TargetResult& t : r.targets) {
    if (Ran(t) && t.spec.label != kernel) shown.push_back(&t);
  }
  STRATA_ASSIGN_OR_RETURN(std::string terminal,
                          Terminal(output, std::max(720, 160 + 70 * static_cast<int>(r.workloads.size())), 560));
  std::ostringstream s;
  // The y range and its ticks (1-3-10 steps) from the ratios drawn.
  double low = 1, high = 1;
  for (const WorkloadInfo& w : r.workloads) {
    if (!w.unavailable.empty()) continue;
    for (const TargetResult* t : shown) {
      if (auto v = r.Ratio(w.name, t->spec.label, kernel); v && *v > 0) {
        low = std::min(low, *v);
        high = std::max(high, *v);
      }
    }
  }
  low /= 1.5;
  high *= 1.5;
  // Bars far below the rest (native's copy-up of nothing) would squeeze every other bar into
  // the top of the chart: the axis stops at 1/100 and says so.
  const bool cut = low < 0.01;
  if (cut) low = 0.01;
  std::string ticks;
  for (double decade = 1e-4; decade < 1e5; decade *= 10) {
    for (double m : {1.0, 3.0}) {
      const double v = decade * m;
      if (v < low || v > high) continue;
      char tick[48];
      std::snprintf(tick, sizeof tick, "\"%gx\" %g", v, v);
      ticks += (ticks.empty() ? "" : ", ") + std::string(tick);
    }
  }
  s << terminal << "set output \"" << Escape(output) << "\"\n"
    << "set title \"Time relative to kernel overlayfs (1x = as fast, lower is faster), median of "
    << r.reps << " run" << (r.reps == 1 ? "" : "s")
    << (cut ? "; bars below 0.01x end at the axis" : "") << "\"\n"
    << "set style data histogram\nset style histogram clustered gap 1\n"
    << "set style fill solid 0.85 border -1\nset boxwidth 0.9\n"
    << "set logscale y 10\nset yrange [" << low << ":" << high << "]\n"
    << "set ytics nomirror (" << ticks << ")\nset grid ytics\n"
    << "set xtics rotate by -35 scale 0 nomirror\nset key outside top center horizontal\n"
    << "set datafile missing \"?\"\nset arrow from graph 0, first 1 to graph 1, first 1 nohead "
       "lw 2 dt 2\n"
    << "$data << EOD\n";
  for (const WorkloadInfo& w : r.workloads) {
    if (!w.unavailable.empty()) continue;
    s << "\"" << Escape(w.name) << "\"";
    for (const TargetResult* t : shown) {
      auto v = r.Ratio(w.name, t->spec.label, kernel);
      s << " " << (v && *v > 0 ? Fixed(*v, 4) : "?");
    }
    s << "\n";
  }
  s << "EOD\nplot ";
  for (size_t i = 0; i < shown.size(); ++i) {
    s << (i ? ", " : "") << "$data using " << i + 2 << (i == 0 ? ":xtic(1)" : "") << " title \""
      << Escape(DisplayName(shown[i]->spec)) << "\"";
  }
  s << "\n";
  return s.str();
}

std::string ScaleChartPath(const std::string& chart, const ScaleResult& s) {
  const size_t dot = chart.rfind('.');
  const std::string stem = dot == std::string::npos ? chart : chart.substr(0, dot);
  const std::string ext = dot == std::string::npos ? "" : chart.substr(dot);
  return stem + "-scale-" + s.kind + "-" + s.workload + ext;
}

Result<std::string> ScaleChartScript(const Results& r, const ScaleResult& sc,
                                     const std::string& output) {
  STRATA_ASSIGN_OR_RETURN(std::string terminal, Terminal(output, 800, 520));
  std::vector<const TargetResult*> ran;
  for (const TargetResult& t : r.targets) {
    if (Ran(t)) ran.push_back(&t);
  }
  std::ostringstream s;
  s << terminal << "set output \"" << Escape(output) << "\"\n"
    << "set title \"" << Escape(sc.workload) << " as " << sc.kind
    << " grow (median seconds)\"\n"
    << "set logscale xy\nset grid\nset key outside right\nset xlabel \"" << sc.kind << "\"\n"
    << "set ylabel \"seconds\"\nset datafile missing \"?\"\n$data << EOD\n";
  for (uint64_t p : sc.points) {
    s << p;
    for (const TargetResult* t : ran) {
      std::string v = "?";
      for (const Cell& c : sc.cells) {
        if (c.workload == std::to_string(p) && c.target == t->spec.label && !c.seconds.empty()) {
          const double m = Summarize(c.seconds).median;
          if (m > 0) v = Fixed(m, 6);
        }
      }
      s << " " << v;
    }
    s << "\n";
  }
  s << "EOD\nplot ";
  for (size_t i = 0; i < ran.size(); ++i) {
    s << (i ? ", " : "") << "$data using 1:" << i + 2 << " with linespoints lw 2 title \""
      << Escape(DisplayName(ran[i]->spec)) << "\"";
  }
  s << "\n";
  return s.str();
}

Status RunGnuplot(const std::string& script) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return FailErrno("pipe");
  const pid_t pid = ::fork();
  if (pid < 0) return FailErrno("fork");
  if (pid == 0) {
    ::dup2(fds[0], STDIN_FILENO);
    ::execlp("gnuplot", "gnuplot", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[0]);
  size_t done = 0;
  while (done < script.size()) {
    const ssize_t n = ::write(fds[1], script.data() + done, script.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fds[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    return Fail(ENOENT, "gnuplot is not installed (apt-get install gnuplot-nox)");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return Fail(EIO, "gnuplot failed");
  return Ok();
}

}  // namespace strata::bench
