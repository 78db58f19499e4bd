#include "tests/support/random_stack.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <functional>
#include <map>
#include <random>
#include <set>

namespace strata::testing {

const char* const kNames[5] = {"a", "b", "c", "d", "e"};

std::vector<LayerPlan> Plan(uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  std::vector<LayerPlan> layers(2 + pick(4));
  for (LayerPlan& plan : layers) {
    std::map<std::string, char> model;  // path -> f d w (whiteout) o (other non-dir)
    std::set<std::string> opaque;
    std::vector<std::string> files;
    const int ops = 10 + pick(30);
    for (int i = 0; i < ops; ++i) {
      std::string path, parent;
      const int depth = 1 + pick(3);
      for (int c = 0; c < depth; ++c) {
        parent = path;
        path += (c ? "/" : "") + std::string(kNames[pick(5)]);
      }
      // Parents must be (or become) directories of this layer; the target must be new.
      bool ok = !model.contains(path);
      for (size_t pos = path.find('/'); ok && pos != std::string::npos;
           pos = path.find('/', pos + 1)) {
        auto it = model.find(path.substr(0, pos));
        ok = it == model.end() || it->second == 'd';
      }
      if (!ok) continue;
      PlanOp op;
      op.path = path;
      op.mtime = 1600000000 + pick(100000000);
      op.uid = pick(4) == 0 ? 1000 : 0;
      const int roll = pick(100);
      if (roll < 30) {
        op.kind = PlanOp::kFile;
        const int size_class = pick(4);
        const size_t size = size_class == 0   ? 0
                            : size_class == 1 ? 1 + pick(64)
                            : size_class == 2 ? 5000
                                              : 200000;
        for (size_t b = 0; b < size; ++b) op.arg.push_back(static_cast<char>(rng()));
        const mode_t modes[] = {0644, 0600, 0755, 04755, 0444};
        op.mode = modes[pick(5)];
      } else if (roll < 34) {
        op.kind = PlanOp::kSparse;
        op.arg = "data-in-the-middle-" + std::to_string(rng());
        op.mode = 0644;
      } else if (roll < 48) {
        op.kind = PlanOp::kDir;
        const mode_t modes[] = {0755, 0700, 01777, 0750};
        op.mode = modes[pick(4)];
      } else if (roll < 55) {
        op.kind = PlanOp::kSymlink;
        op.arg = pick(2) ? "../" + std::string(kNames[pick(5)])
                         : "/etc/target-" + std::to_string(pick(9));
      } else if (roll < 62) {
        if (files.empty()) continue;
        op.kind = PlanOp::kHardlink;
        op.arg = files[pick(static_cast<int>(files.size()))];
      } else if (roll < 80) {
        if (opaque.contains(parent)) continue;  // pointless inside an opaque dir
        op.kind = PlanOp::kWhiteout;
      } else if (roll < 88) {
        op.kind = PlanOp::kOpaque;
      } else if (roll < 91) {
        op.kind = PlanOp::kFifo;
      } else if (roll < 93) {
        op.kind = PlanOp::kCharDev;
      } else {
        // An xattr on something this layer already has (not a symlink or whiteout).
        std::vector<std::string> targets;
        for (const auto& [p, t] : model)
          if (t == 'f' || t == 'd') targets.push_back(p);
        if (targets.empty()) continue;
        op.kind = PlanOp::kXattr;
        op.path = targets[pick(static_cast<int>(targets.size()))];
        op.mode = static_cast<mode_t>(pick(3));  // which user.kN
        op.arg = "v" + std::to_string(rng() % 1000) + std::string(1, '\0') + "bin";
        plan.push_back(op);
        continue;
      }
      for (size_t pos = path.find('/'); pos != std::string::npos; pos = path.find('/', pos + 1)) {
        model.emplace(path.substr(0, pos), 'd');
      }
      switch (op.kind) {
        case PlanOp::kFile:
        case PlanOp::kSparse:
          model[path] = 'f';
          files.push_back(path);
          break;
        case PlanOp::kDir:
          model[path] = 'd';
          break;
        case PlanOp::kOpaque:
          model[path] = 'd';
          opaque.insert(path);
          break;
        case PlanOp::kWhiteout:
          model[path] = 'w';
          break;
        case PlanOp::kHardlink:
          model[path] = 'f';
          break;
        default:
          model[path] = 'o';
      }
      plan.push_back(op);
    }
  }
  return layers;
}

namespace {

void SetDirTimes(const std::string& root, const std::string& rel = "") {
  // Directory mtimes depend on when entries were added; pin them so encodings compare.
  const std::string path = rel.empty() ? root : root + "/" + rel;
  struct timespec ts[2] = {
      {0, UTIME_OMIT},
      {1500000000 + static_cast<time_t>(std::hash<std::string>{}(rel) % 1000000), 0}};
  for (const char* name : kNames) {
    const std::string child_rel = rel.empty() ? name : rel + "/" + name;
    struct stat st;
    if (::lstat((root + "/" + child_rel).c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      SetDirTimes(root, child_rel);
    }
  }
  ::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW);
}

}  // namespace

std::vector<std::string> Write(const std::vector<LayerPlan>& plans, Encoding enc,
                               const std::string& base) {
  ::mkdir(base.c_str(), 0755);
  std::vector<std::string> paths;
  for (size_t i = 0; i < plans.size(); ++i) {
    LayerBuilder b(base + "/l" + std::to_string(i));
    if (enc == Encoding::kXattrWhiteout) b.Xattr(".", "trusted.overlay.opaque", "x");
    for (const PlanOp& op : plans[i]) {
      switch (op.kind) {
        case PlanOp::kFile:
          b.File(op.path, op.arg, op.mode);
          break;
        case PlanOp::kSparse:
          b.SparseFile(op.path, 3 << 20, 1 << 20, op.arg);
          break;
        case PlanOp::kDir:
          b.Dir(op.path, op.mode);
          break;
        case PlanOp::kSymlink:
          b.Symlink(op.path, op.arg);
          break;
        case PlanOp::kHardlink:
          b.Hardlink(op.path, op.arg);
          break;
        case PlanOp::kWhiteout:
          b.Whiteout(op.path, enc);
          break;
        case PlanOp::kOpaque:
          b.Opaque(op.path, enc);
          break;
        case PlanOp::kFifo:
          b.Fifo(op.path);
          break;
        case PlanOp::kCharDev:
          b.CharDev(op.path, 1, 3);
          break;
        case PlanOp::kXattr:
          b.Xattr(op.path, "user.k" + std::to_string(op.mode), op.arg);
          break;
      }
      if (op.kind == PlanOp::kWhiteout || op.kind == PlanOp::kXattr) continue;
      if (op.uid) b.Chown(op.path, op.uid, op.uid);
      if (op.kind == PlanOp::kFile || op.kind == PlanOp::kSparse) b.Chmod(op.path, op.mode);
      if (op.kind != PlanOp::kDir && op.kind != PlanOp::kOpaque) b.Mtime(op.path, op.mtime, 0);
    }
    SetDirTimes(b.root());
    paths.insert(paths.begin(), b.root());
  }
  return paths;
}

}  // namespace strata::testing
