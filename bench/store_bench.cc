// Microbenchmarks of layerstore with no kernel: the digests every blob goes through (sha256,
// and xxh3 for comparison: the hash a content check could use instead) and the extraction of a
// layer tar of many small files into a directory.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <benchmark/benchmark.h>

#include "fs/base/unique_fd.h"
#include "layerstore/digest.h"
#include "layerstore/import/layer_extract.h"
#include "tests/support/tar_writer.h"
#include "tests/support/temp_dir.h"

namespace strata::store {
namespace {

std::string Data(size_t bytes) {
  std::string data(bytes, '\0');
  uint64_t x = 88172645463325252ull;
  for (char& c : data) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>(x);
  }
  return data;
}

void BM_Sha256(benchmark::State& state) {
  const std::string data = Data(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    Sha256 h;
    h.Update(data);
    benchmark::DoNotOptimize(h.Finish());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Sha256)->Arg(4 << 10)->Arg(1 << 20)->Arg(64 << 20);

void BM_Xxh3(benchmark::State& state) {
  const std::string data = Data(static_cast<size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(XXH3_64bits(data.data(), data.size()));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Xxh3)->Arg(4 << 10)->Arg(1 << 20)->Arg(64 << 20);

// A layer of N files of 2 KiB in directories of 100, extracted (digests included) into a fresh
// directory each time; gzip-compressed when the second argument is 1.
void BM_ExtractLayer(benchmark::State& state) {
  const int files = static_cast<int>(state.range(0));
  testing::TarWriter tar(state.range(1) ? testing::Compression::kGzip
                                        : testing::Compression::kNone);
  const std::string body = Data(2048);
  for (int d = 0; d * 100 < files; ++d) tar.Dir("d" + std::to_string(d));
  for (int f = 0; f < files; ++f) {
    tar.File("d" + std::to_string(f / 100) + "/f" + std::to_string(f), body);
  }
  const std::string blob = tar.Finish();
  testing::TempDir dir;
  const std::string blob_path = dir / "layer.tar";
  {
    UniqueFd out(::open(blob_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!out || ::write(out.Get(), blob.data(), blob.size()) != static_cast<ssize_t>(blob.size())) {
      state.SkipWithError("cannot write the layer");
      return;
    }
  }
  int round = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const std::string dest = dir / ("x" + std::to_string(round++));
    ::mkdir(dest.c_str(), 0755);
    UniqueFd blob_fd(::open(blob_path.c_str(), O_RDONLY | O_CLOEXEC));
    UniqueFd dest_fd(::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    state.ResumeTiming();
    auto r = ExtractLayer(blob_fd.Get(), dest_fd.Get(), ExtractOptions{.privileged = ::geteuid() == 0});
    if (!r) {
      state.SkipWithError(r.error().Message().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * files);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(blob.size()));
}
BENCHMARK(BM_ExtractLayer)->Args({1000, 0})->Args({10000, 0})->Args({10000, 1})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace strata::store

BENCHMARK_MAIN();
