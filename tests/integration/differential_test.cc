// Differential test: seeded random layer stacks, mounted by kernel overlayfs and by stratafs;
// the canonical dumps must be identical. The kernel mounts the kernel-encoded stack; stratafs
// mounts the same stack written in every encoding (kernel, OCI .wh., user xattrs,
// fuse-overlayfs xattrs, xattr whiteouts), so the kernel is the expected tree for all of them.
//
// STRATA_DIFF_SEEDS=N runs seeds 1..N (default 100); STRATA_DIFF_SEED=S runs only seed S.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include "tests/support/layer_builder.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/temp_dir.h"
#include "tests/support/tree_dump.h"

namespace strata::testing {
namespace {

const char* kNames[] = {"a", "b", "c", "d", "e"};

// A random layer stack described once, written in any encoding. All random draws happen in
// Plan(), so every encoding gets the identical structure.
struct Op {
  enum Kind {
    kFile,
    kSparse,
    kDir,
    kSymlink,
    kHardlink,
    kWhiteout,
    kOpaque,
    kFifo,
    kCharDev,
    kXattr
  } kind;
  std::string path;
  std::string arg;  // content, link target, hard link source, xattr value
  mode_t mode = 0;
  uid_t uid = 0;
  int64_t mtime = 0;
};
using LayerPlan = std::vector<Op>;

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
      Op op;
      op.path = path;
      op.mtime = 1600000000 + pick(100000000);
      op.uid = pick(4) == 0 ? 1000 : 0;
      const int roll = pick(100);
      if (roll < 30) {
        op.kind = Op::kFile;
        const int size_class = pick(4);
        const size_t size = size_class == 0   ? 0
                            : size_class == 1 ? 1 + pick(64)
                            : size_class == 2 ? 5000
                                              : 200000;
        for (size_t b = 0; b < size; ++b) op.arg.push_back(static_cast<char>(rng()));
        const mode_t modes[] = {0644, 0600, 0755, 04755, 0444};
        op.mode = modes[pick(5)];
      } else if (roll < 34) {
        op.kind = Op::kSparse;
        op.arg = "data-in-the-middle-" + std::to_string(rng());
        op.mode = 0644;
      } else if (roll < 48) {
        op.kind = Op::kDir;
        const mode_t modes[] = {0755, 0700, 01777, 0750};
        op.mode = modes[pick(4)];
      } else if (roll < 55) {
        op.kind = Op::kSymlink;
        op.arg = pick(2) ? "../" + std::string(kNames[pick(5)])
                         : "/etc/target-" + std::to_string(pick(9));
      } else if (roll < 62) {
        if (files.empty()) continue;
        op.kind = Op::kHardlink;
        op.arg = files[pick(static_cast<int>(files.size()))];
      } else if (roll < 80) {
        if (opaque.contains(parent)) continue;  // pointless inside an opaque dir
        op.kind = Op::kWhiteout;
      } else if (roll < 88) {
        op.kind = Op::kOpaque;
      } else if (roll < 91) {
        op.kind = Op::kFifo;
      } else if (roll < 93) {
        op.kind = Op::kCharDev;
      } else {
        // An xattr on something this layer already has (not a symlink or whiteout).
        std::vector<std::string> targets;
        for (const auto& [p, t] : model)
          if (t == 'f' || t == 'd') targets.push_back(p);
        if (targets.empty()) continue;
        op.kind = Op::kXattr;
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
        case Op::kFile:
        case Op::kSparse:
          model[path] = 'f';
          files.push_back(path);
          break;
        case Op::kDir:
          model[path] = 'd';
          break;
        case Op::kOpaque:
          model[path] = 'd';
          opaque.insert(path);
          break;
        case Op::kWhiteout:
          model[path] = 'w';
          break;
        case Op::kHardlink:
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

// Writes PLANS (bottom first) in encoding ENC under BASE; returns layer paths topmost first.
std::vector<std::string> Write(const std::vector<LayerPlan>& plans, Encoding enc,
                               const std::string& base) {
  ::mkdir(base.c_str(), 0755);
  std::vector<std::string> paths;
  for (size_t i = 0; i < plans.size(); ++i) {
    LayerBuilder b(base + "/l" + std::to_string(i));
    if (enc == Encoding::kXattrWhiteout) b.Xattr(".", "trusted.overlay.opaque", "x");
    for (const Op& op : plans[i]) {
      switch (op.kind) {
        case Op::kFile:
          b.File(op.path, op.arg, op.mode);
          break;
        case Op::kSparse:
          b.SparseFile(op.path, 3 << 20, 1 << 20, op.arg);
          break;
        case Op::kDir:
          b.Dir(op.path, op.mode);
          break;
        case Op::kSymlink:
          b.Symlink(op.path, op.arg);
          break;
        case Op::kHardlink:
          b.Hardlink(op.path, op.arg);
          break;
        case Op::kWhiteout:
          b.Whiteout(op.path, enc);
          break;
        case Op::kOpaque:
          b.Opaque(op.path, enc);
          break;
        case Op::kFifo:
          b.Fifo(op.path);
          break;
        case Op::kCharDev:
          b.CharDev(op.path, 1, 3);
          break;
        case Op::kXattr:
          b.Xattr(op.path, "user.k" + std::to_string(op.mode), op.arg);
          break;
      }
      if (op.kind == Op::kWhiteout || op.kind == Op::kXattr) continue;
      if (op.uid) b.Chown(op.path, op.uid, op.uid);
      if (op.kind == Op::kFile || op.kind == Op::kSparse) b.Chmod(op.path, op.mode);
      if (op.kind != Op::kDir && op.kind != Op::kOpaque) b.Mtime(op.path, op.mtime, 0);
    }
    SetDirTimes(b.root());
    paths.insert(paths.begin(), b.root());
  }
  return paths;
}

class DifferentialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = MountUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
  }
};

TEST_F(DifferentialTest, RandomStacksMatchKernelOverlayfs) {
  int first = 1, last = 100;
  if (const char* n = std::getenv("STRATA_DIFF_SEEDS")) last = std::atoi(n);
  if (const char* s = std::getenv("STRATA_DIFF_SEED")) first = last = std::atoi(s);
  TempDir dir;
  int compared = 0;
  const std::string fuse_overlayfs =
      ::access("/usr/bin/fuse-overlayfs", X_OK) == 0 ? "/usr/bin/fuse-overlayfs" : "";
  for (int seed = first; seed <= last; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed) +
                 " (rerun: STRATA_DIFF_SEED=" + std::to_string(seed) + ")");
    TmpfsMount tmp(dir / ("s" + std::to_string(seed)));
    ASSERT_TRUE(tmp.ok());
    const auto plans = Plan(static_cast<uint64_t>(seed));
    const auto kernel_layers = Write(plans, Encoding::kKernel, tmp.path() + "/kernel");
    ::mkdir((tmp.path() + "/kmnt").c_str(), 0755);
    KernelOverlay kernel(kernel_layers, tmp.path() + "/kmnt");
    ASSERT_TRUE(kernel.ok()) << kernel.error();
    if (std::getenv("STRATA_DIFF_SHOW")) {  // debugging aid: show the kernel-encoded layers
      std::system(("cd " + tmp.path() + "/kernel && ls -laR . && getfattr -R -d -m - .").c_str());
    }
    const Tree expected = DumpTree(tmp.path() + "/kmnt", /*skip_phantoms=*/true);
    const std::string expected_text = Canonical(expected);

    for (Encoding enc : {Encoding::kKernel, Encoding::kOci, Encoding::kUserXattr,
                         Encoding::kFuseOverlayfs, Encoding::kXattrWhiteout}) {
      SCOPED_TRACE(std::string("encoding ") + EncodingName(enc));
      const std::string base = tmp.path() + "/" + EncodingName(enc);
      const auto layers = enc == Encoding::kKernel ? kernel_layers : Write(plans, enc, base);
      const std::string mnt = tmp.path() + "/mnt-" + EncodingName(enc);
      ::mkdir(mnt.c_str(), 0755);
      StrataMount strata({"-o", LowerdirOption(layers)}, mnt);
      ASSERT_TRUE(strata.ok()) << strata.error();
      const Tree actual = DumpTree(mnt);
      EXPECT_EQ(DiffLines(expected_text, Canonical(actual)), "");
      EXPECT_EQ(CheckDirNlink(actual), "");
      if (enc == Encoding::kKernel) {
        EXPECT_EQ(CheckInodes(actual, expected), "");
      }
      EXPECT_EQ(strata.Stop(), 0) << "clean unmount exits 0; stderr: " << strata.Stderr();
      ++compared;
    }
    // fuse-overlayfs, a peer nobody here wrote, on the OCI-encoded stack: a third opinion.
    if (!fuse_overlayfs.empty()) {
      SCOPED_TRACE("fuse-overlayfs on the OCI encoding");
      const std::string mnt = tmp.path() + "/mnt-fuse-overlayfs";
      ::mkdir(mnt.c_str(), 0755);
      std::vector<std::string> oci_layers;
      for (size_t i = plans.size(); i-- > 0;) {
        oci_layers.push_back(tmp.path() + "/" + EncodingName(Encoding::kOci) + "/l" +
                             std::to_string(i));
      }
      CommandResult r = RunCommand({fuse_overlayfs, "-o", LowerdirOption(oci_layers), mnt});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      const Tree peer = DumpTree(mnt);
      Unmount(mnt);
      // fuse-overlayfs reports st_nlink 1 for some hard-linked lower files where the kernel
      // (and stratafs) report the real count; everything else must agree.
      CanonicalOptions no_nlink;
      no_nlink.file_nlink = false;
      EXPECT_EQ(DiffLines(Canonical(expected, no_nlink), Canonical(peer, no_nlink)), "");
    }
    if (HasFailure()) break;  // one seed's report is enough to debug
  }
  EXPECT_GT(compared, 0);
  std::printf("compared %d stratafs mounts with kernel overlayfs\n", compared);
}

}  // namespace
}  // namespace strata::testing
