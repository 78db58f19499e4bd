// Fuzz target: a layer blob (any bytes: tar, gzip or zstd of one, or garbage) extracted by the
// store's extraction rules (layer_extract.h), then the extracted layer read as a read-only
// union by fs/core: every directory listed, every entry looked up, stat'ed, its xattrs and
// link target read, its file data read. Oracles beyond the sanitizers: extraction never
// writes outside its destination, and a layer it accepted is one the union can read.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <deque>

#include "fs/core/union_fs.h"
#include "layerstore/import/layer_extract.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

using strata::core::InodeId;

void Walk(strata::core::UnionFs& fs) {
  std::deque<InodeId> dirs{strata::core::kRootId};
  size_t seen = 0;
  while (!dirs.empty() && seen < 20000) {
    const InodeId dir = dirs.front();
    dirs.pop_front();
    auto entries = fs.ReadDir(dir);
    if (!entries) continue;
    for (const auto& e : *entries) {
      if (e.name == "." || e.name == "..") continue;
      ++seen;
      auto found = fs.LookupListed(dir, e);
      if (!found) continue;
      (void)fs.GetAttr(found->id);
      (void)fs.ListXattr(found->id);
      (void)fs.GetXattr(found->id, "user.a");
      if (S_ISDIR(found->attr.st_mode)) {
        dirs.push_back(found->id);
      } else if (S_ISLNK(found->attr.st_mode)) {
        (void)fs.ReadLink(found->id);
      } else if (S_ISREG(found->attr.st_mode)) {
        if (auto h = fs.OpenFile(found->id, O_RDONLY)) {
          char buf[4096];
          if (auto fd = fs.HandleFd(**h)) (void)!::pread(*fd, buf, sizeof buf, 0);
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static int run = 0;
  const std::string box = strata::fuzz::Scratch() + "/layer" + std::to_string(run++);
  const std::string dest = box + "/dest";
  if (::mkdir(box.c_str(), 0700) != 0 || ::mkdir(dest.c_str(), 0755) != 0) std::abort();
  const int blob = strata::fuzz::MemFile(data, size);
  const int dest_fd = ::open(dest.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  strata::store::ExtractOptions options;
  options.privileged = ::geteuid() == 0;
  auto extracted = strata::store::ExtractLayer(blob, dest_fd, options);
  ::close(dest_fd);
  ::close(blob);
  if (strata::fuzz::CountEntries(box) != 1) {
    std::fprintf(stderr, "extraction wrote outside its destination\n");
    std::abort();
  }
  if (extracted) {
    strata::core::UnionConfig config;
    config.lowerdirs = {dest};
    auto fs = strata::core::UnionFs::Open(config);
    if (!fs) {
      std::fprintf(stderr, "an extracted layer cannot be opened: %s\n",
                   fs.error().Message().c_str());
      std::abort();
    }
    Walk(**fs);
  }
  strata::fuzz::RemoveTree(box);
  return 0;
}
