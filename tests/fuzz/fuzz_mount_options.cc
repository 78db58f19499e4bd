// Fuzz target: stratafs's command line (mount_options.h), as runtimes and mount helpers pass
// it: the input's NUL-separated words are the arguments. Oracle beyond the sanitizers: an
// accepted command line has at least one lower layer, and no layer path is empty.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fs/mount_options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> args;
  std::string cur;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      args.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(static_cast<char>(data[i]));
    }
  }
  args.push_back(cur);
  auto parsed = strata::ParseCommandLine(args);
  if (!parsed || parsed->help || parsed->version) return 0;
  bool ok = !parsed->lowerdirs.empty();
  for (const auto& l : parsed->lowerdirs) ok = ok && !l.empty();
  for (const auto& l : parsed->datadirs) ok = ok && !l.empty();
  if (!ok) {
    std::fprintf(stderr, "accepted a command line without a layer, or an empty layer path\n");
    std::abort();
  }
  return 0;
}
