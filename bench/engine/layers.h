// The layers the benchmark mounts, built once under the work directory and reused by later
// runs (a stamp names the recipe; a changed recipe builds anew).
//
// The main stack (5 layers, kernel-format whiteouts and opaque directories):
//   l0  /usr/include, a Python standard library, a big file, a fio file, a C project
//   l1  /usr/share/doc; whiteouts of 2% of l0's headers
//   l2  10% of the headers rewritten; two header directories opaque with new contents
//   l3  5% of the docs rewritten; whiteouts of 1% of the Python files
//   l4  new headers
// and a directory present in every layer (merged listings). --quick builds small synthetic
// trees of the same shape instead. The deep stack: 24 thin layers, names in the bottom one
// looked up through all of them. Scale series build a stack per point.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "fs/base/status.h"

namespace strata::bench {

struct LayerSet {
  std::string name;                 // "main", "deep", "layers=32", "files=10000"
  std::string description;          // for the report
  std::string dir;                  // where it was built (removed when it is built anew)
  std::vector<std::string> lowers;  // topmost first
  // Paths inside the merged tree that workloads use; empty where the set has none.
  std::string big_file;     // one big file (sequential reads, copy-up of an append)
  std::string fio_file;     // a file fio reads and writes at random
  std::string common_dir;   // a directory present in every layer
  std::string small_tree;   // many small files (cold reads, chmod/chown/touch)
  std::string remove_tree;  // a lower tree `rm -rf` removes
  std::string project;      // a small C project with a Makefile
  std::vector<std::string> lookup_names;  // names of the bottom layer, looked up through all
  std::string tarball;      // an absolute path: ~9,000 small files to untar into a mount
  uint64_t big_bytes = 0;   // the size of big_file (written again by the write workload)
};

using Progress = std::function<void(const std::string&)>;

Result<LayerSet> BuildMainLayers(const std::string& dir, bool quick, const Progress& progress);
Result<LayerSet> BuildDeepLayers(const std::string& dir, bool quick);
// KIND "layers": N thin layers with a directory in each and names in the bottom one;
// "files": one tree of N files.
Result<LayerSet> BuildScaleLayers(const std::string& dir, const std::string& kind, uint64_t n);
// An image's layers (LOWERS, topmost first, e.g. from the store): the workloads find what they
// use in it (the largest file, the largest directory, ...); TARBALL_FROM is a main set to take
// the untar input from.
Result<LayerSet> LayersOfImage(const std::vector<std::string>& lowers, const std::string& label,
                               const std::string& tarball);

}  // namespace strata::bench
