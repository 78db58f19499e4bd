// Microbenchmarks of fs/core with no kernel: the inode table under contention, lookups and
// merged listings over layers built in a temp dir, and the copy-up of a file of N MiB. Ratios
// between runs matter, not absolutes.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/core/union_fs.h"
#include "tests/support/layer_builder.h"
#include "tests/support/temp_dir.h"

namespace strata::core {
namespace {

std::shared_ptr<Inode> NewNode(uint64_t ino) {
  auto n = std::make_shared<Inode>(S_IFREG);
  n->st_ino = ino;
  return n;
}

void BM_InodeTableRefForget(benchmark::State& state) {
  static InodeTable* table = nullptr;
  if (state.thread_index() == 0) table = new InodeTable(NewNode(1));
  uint64_t i = static_cast<uint64_t>(state.thread_index()) * 1000003;
  for (auto _ : state) {
    const uint64_t ino = 10 + (i++ % 4096);
    auto node = table->FindAndRef(ino);
    if (!node) node = table->InsertAndRef(NewNode(ino));
    benchmark::DoNotOptimize(table->Get(node->id));
    table->Forget(node->id, 1);
  }
  if (state.thread_index() == 0) {
    delete table;
    table = nullptr;
  }
}
BENCHMARK(BM_InodeTableRefForget)->Threads(1)->Threads(2)->Threads(4)->UseRealTime();

struct Stack {
  testing::TempDir dir;
  std::unique_ptr<UnionFs> fs;
  InodeId d;
  Stack(int layers, int files_per_layer) {
    UnionConfig config;
    for (int l = 0; l < layers; ++l) {
      testing::LayerBuilder b(dir / ("l" + std::to_string(l)));
      for (int i = 0; i < files_per_layer; ++i)
        b.File("d/l" + std::to_string(l) + "f" + std::to_string(i));
      config.lowerdirs.insert(config.lowerdirs.begin(), b.root());
    }
    fs = std::move(*UnionFs::Open(config));
    d = fs->Lookup(kRootId, "d")->id;
  }
};

void BM_MergedReaddir(benchmark::State& state) {
  Stack s(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) benchmark::DoNotOptimize(s.fs->ReadDir(s.d));
  state.SetItemsProcessed(state.iterations() * state.range(0) * state.range(1));
}
BENCHMARK(BM_MergedReaddir)->Args({1, 10000})->Args({4, 2500})->Args({16, 625});

void BM_LookupBottomLayer(benchmark::State& state) {
  const int layers = static_cast<int>(state.range(0));
  Stack s(layers, 100);
  const std::string name = "l0f50";  // in the bottom layer: every layer above is probed
  for (auto _ : state) {
    auto e = s.fs->Lookup(s.d, name);
    s.fs->Forget(e->id, 1);
  }
}
BENCHMARK(BM_LookupBottomLayer)->Arg(1)->Arg(8)->Arg(64);

// Copy-up of a lower file of N MiB into a fresh upper layer (its fsync included unless the
// second argument is 0): what the first write to an image file costs.
void BM_CopyUp(benchmark::State& state) {
  const int64_t bytes = state.range(0) << 20;
  testing::TempDir dir;
  testing::LayerBuilder lower(dir / "lower");
  lower.File("f", std::string(static_cast<size_t>(bytes), 'c'));
  int round = 0;
  for (auto _ : state) {
    state.PauseTiming();
    // Each copy-up starts with nothing dirty and the previous one's upper gone, so the
    // no-fsync case measures the copy, not writeback throttling of earlier rounds' pages.
    if (round > 0) {
      testing::RemoveTree(dir / ("u" + std::to_string(round - 1)));
      testing::RemoveTree(dir / ("w" + std::to_string(round - 1)));
    }
    ::sync();
    UnionConfig config;
    config.lowerdirs = {lower.root()};
    config.upperdir = dir / ("u" + std::to_string(round));
    config.workdir = dir / ("w" + std::to_string(round++));
    config.fsync = state.range(1) != 0;
    ::mkdir(config.upperdir.c_str(), 0755);
    ::mkdir(config.workdir.c_str(), 0755);
    auto fs = std::move(*UnionFs::Open(config));
    const InodeId f = fs->Lookup(kRootId, "f")->id;
    state.ResumeTiming();
    auto handle = fs->OpenFile(f, O_WRONLY);
    if (!handle) {
      state.SkipWithError(handle.error().Message().c_str());
      break;
    }
    benchmark::DoNotOptimize(handle);
  }
  state.SetBytesProcessed(state.iterations() * bytes);
}
BENCHMARK(BM_CopyUp)
    ->Args({1, 1})
    ->Args({16, 1})
    ->Args({64, 1})
    ->Args({64, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Heap bytes per node the union keeps while the kernel holds it: a two-layer tree of 40,000
// files in 400 directories (names as long as typical image paths' leaves), every entry looked
// up and kept (no Forget, as the kernel's cache keeps them), measured with mallinfo2. Reported
// as the counter bytes_per_node; the time is the walk's.
void BM_NodeMemory(benchmark::State& state) {
  testing::TempDir dir;
  UnionConfig config;
  constexpr int kDirs = 400, kFiles = 50;
  for (int l = 0; l < 2; ++l) {
    testing::LayerBuilder b(dir / ("l" + std::to_string(l)));
    for (int d = 0; d < kDirs; ++d) {
      for (int f = 0; f < kFiles; ++f) {
        b.File("usr/d" + std::to_string(d) + "/module_l" + std::to_string(l) + "_" +
               std::to_string(f) + ".py");
      }
    }
    config.lowerdirs.insert(config.lowerdirs.begin(), b.root());
  }
  double per_node = 0;
  for (auto _ : state) {
    auto fs = std::move(*UnionFs::Open(config));
    const size_t before = ::mallinfo2().uordblks;
    const InodeId usr = fs->Lookup(kRootId, "usr")->id;
    size_t nodes = 1;
    for (int d = 0; d < kDirs; ++d) {
      auto sub = fs->Lookup(usr, "d" + std::to_string(d));
      ++nodes;
      auto entries = fs->ReadDir(sub->id);
      for (const DirEntry& e : *entries) {
        if (e.name == "." || e.name == "..") continue;
        benchmark::DoNotOptimize(fs->LookupListed(sub->id, e));
        ++nodes;
      }
    }
    per_node = static_cast<double>(::mallinfo2().uordblks - before) / static_cast<double>(nodes);
    state.PauseTiming();
    fs.reset();
    state.ResumeTiming();
  }
  state.counters["bytes_per_node"] = per_node;
}
BENCHMARK(BM_NodeMemory)->Unit(benchmark::kMillisecond)->Iterations(2);

}  // namespace
}  // namespace strata::core

BENCHMARK_MAIN();
