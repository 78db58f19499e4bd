// strata's commands. Each opens the store with the lock it needs, calls layerstore, and prints;
// none holds logic of its own (that lives in layerstore/).
#pragma once

#include <string>
#include <vector>

#include "fs/base/status.h"
#include "layerstore/digest.h"
#include "layerstore/import/oci_import.h"
#include "layerstore/registry/pull.h"
#include "layerstore/store.h"
#include "tools/format.h"

namespace strata::cli {

struct Globals {
  std::string root;
  bool quiet = false;
};

std::string DefaultRoot();
int Report(const Error& e);                 // prints "strata: ..." and returns 1
std::string Short(const store::Digest& d);  // 12 hex digits
Result<store::Digest> Resolve(const store::Store& store, const std::string& ref);
// The directories of REF's layers, topmost first. Errors: ENOENT for a missing layer.
Result<std::vector<std::string>> ImageLowers(const store::Store& store, const std::string& ref);
// The directory this binary is in ("" if unknown).
std::string SelfDir();
// stratafs next to this binary (a build tree, an install), else from PATH.
std::string StratafsPath();

int Import(const Globals& g, const std::string& source, store::ImportOptions options);
int Pull(const Globals& g, const std::string& ref, store::PullOptions options);
int Login(const std::string& registry, std::string user, bool password_stdin,
          const std::string& auth_file, bool tls_verify);
int Logout(const std::string& registry, const std::string& auth_file);
// Listings (cmd_list.cc): podman's flags; FORMAT is "json" or a template (format.h).
struct ImagesFlags {
  std::string format;
  bool quiet = false, no_trunc = false, digests = false, noheading = false;
  std::vector<std::string> filters;  // dangling=, reference=, before=, since=
  std::string sort = "created";      // created, id, repository, size, tag
};
int Images(const Globals& g, const ImagesFlags& flags);
struct InspectFlags {
  bool config = false, raw = false;
  std::string format;
};
int Inspect(const Globals& g, const std::string& ref, const InspectFlags& flags);
struct HistoryFlags {
  std::string format;
  bool human = true, no_trunc = false, quiet = false, noheading = false;
};
int History(const Globals& g, const std::string& ref, const HistoryFlags& flags);
int ImageTree(const Globals& g, const std::string& ref);
int Tag(const Globals& g, const std::string& ref, const std::string& name);
int Remove(const Globals& g, const std::vector<std::string>& refs);
int Prune(const Globals& g);
int DiskUsage(const Globals& g, const std::string& format);
int Verify(const Globals& g);
int Lowerdirs(const Globals& g, const std::string& ref);
// How `strata mount` gets its writable layer: none (read_only), DIR/diff + DIR/work (upper),
// or a container kept in the store (name; default: derived from the mountpoint's path).
struct MountLayer {
  bool read_only = false;
  std::string upper;
  std::string name;
};
int Mount(const Globals& g, const std::string& ref, const std::string& mountpoint,
          const MountLayer& layer);
int Containers(const Globals& g, const std::string& format);
struct CommitFlags {
  std::string container, name, message, author;
  std::string compression = "gzip";
};
int Commit(const Globals& g, const CommitFlags& flags);
int Push(const Globals& g, const std::string& ref, const std::string& destination,
         bool tls_verify);
int Save(const Globals& g, const std::vector<std::string>& refs, const std::string& output,
         const std::string& format);
int RemoveContainers(const Globals& g, const std::vector<std::string>& names);
int Umount(const std::string& mountpoint);
int DigestFiles(const std::vector<std::string>& files);
int ChainIdOf(const std::vector<std::string>& diff_ids);

// `strata bench`: the command line's words as given; the engine (bench/engine) does the rest.
struct BenchFlags {
  std::vector<std::string> targets, workloads, scales;
  int reps = 0;
  bool quick = false, micro = false, list = false;
  std::vector<std::string> chart;  // .svg or .png, one or more
  std::string json, work, image, filter, from, command;
};
int Bench(const Globals& g, const BenchFlags& flags);

}  // namespace strata::cli
