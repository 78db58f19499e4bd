#include "bench/engine/results.h"

#include <algorithm>
#include <cmath>

namespace strata::bench {

Summary Summarize(std::vector<double> samples) {
  Summary s;
  s.n = samples.size();
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  s.min = samples.front();
  s.max = samples.back();
  const size_t mid = samples.size() / 2;
  s.median = samples.size() % 2 ? samples[mid] : (samples[mid - 1] + samples[mid]) / 2;
  return s;
}

uint64_t MaxPeakRss(const Cell& cell) {
  uint64_t peak = 0;
  for (uint64_t kib : cell.peak_rss_kib) peak = std::max(peak, kib);
  return peak;
}

const Cell* Results::Find(const std::string& workload, const std::string& target) const {
  for (const Cell& c : cells) {
    if (c.workload == workload && c.target == target) return &c;
  }
  return nullptr;
}

std::optional<double> Results::Ratio(const std::string& workload, const std::string& target,
                                     const std::string& reference) const {
  const Cell* t = Find(workload, target);
  const Cell* r = Find(workload, reference);
  if (!t || !r || t->seconds.empty() || r->seconds.empty()) return std::nullopt;
  const double ref = Summarize(r->seconds).median;
  if (ref <= 0) return std::nullopt;
  return Summarize(t->seconds).median / ref;
}

std::optional<double> Results::GeoMeanRatio(const std::string& target,
                                            const std::string& reference) const {
  double log_sum = 0;
  int n = 0;
  for (const WorkloadInfo& w : workloads) {
    if (auto r = Ratio(w.name, target, reference); r && *r > 0) {
      log_sum += std::log(*r);
      ++n;
    }
  }
  if (n == 0) return std::nullopt;
  return std::exp(log_sum / n);
}

}  // namespace strata::bench
