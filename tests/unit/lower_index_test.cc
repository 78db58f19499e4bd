// fs/core/lower_index.h with no kernel: lookups answered from a directory's index of its lower
// names equal lookups that probe every layer, over random deep stacks with every whiteout
// encoding, opaque directories, OCI ".wh." files and names that differ in type per layer;
// also in a writable union as names are removed (whiteouts), re-created and renamed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>
#include <string>
#include <vector>

#include "fs/core/lower_index.h"
#include "fs/core/union_fs.h"
#include "tests/support/layer_builder.h"
#include "tests/support/temp_dir.h"

namespace strata::core {
namespace {

using testing::Encoding;
using testing::LayerBuilder;
using testing::TempDir;

constexpr int kLayers = 7;
constexpr int kNames = 24;

std::string NameOf(int i) { return "n" + std::to_string(i); }

// What a lookup shows, compared between the two unions (st_ino too unless the objects may be
// new in each union's own upper layer).
std::string Describe(UnionFs& fs, InodeId dir, const std::string& name, bool with_ino) {
  auto e = fs.Lookup(dir, name);
  if (!e) return "error " + std::to_string(e.error().code);
  std::string out = S_ISDIR(e->attr.st_mode) ? "dir" : "file";
  if (with_ino) out += " ino " + std::to_string(e->attr.st_ino);
  if (S_ISREG(e->attr.st_mode)) {
    auto h = fs.OpenFile(e->id, O_RDONLY);
    if (h) {
      auto fd = fs.HandleFd(**h);
      char buf[64];
      const ssize_t n = fd ? ::pread(*fd, buf, sizeof buf, 0) : -1;
      out += " '" + std::string(buf, n > 0 ? static_cast<size_t>(n) : 0) + "'";
    }
  }
  fs.Forget(e->id, 1);
  return out;
}

class LowerIndexTest : public ::testing::TestWithParam<unsigned> {
 protected:
  // A random stack: in directory "d" of every layer, each name is absent, a file, a
  // directory or a whiteout (kernel, OCI or xattr encoding), and "d" may be opaque.
  void BuildStack() {
    std::mt19937 rng(GetParam());
    for (int layer = 0; layer < kLayers; ++layer) {  // bottom first
      const std::string root = dir_ / ("l" + std::to_string(layer));
      LayerBuilder b(root);
      b.Dir("d");
      if (layer > 0 && layer < kLayers - 1 && rng() % 6 == 0) {
        b.Opaque("d", rng() % 2 ? Encoding::kKernel : Encoding::kOci);
      }
      for (int i = 0; i < kNames; ++i) {
        const std::string rel = "d/" + NameOf(i);
        switch (rng() % 8) {
          case 0:
          case 1:
            b.File(rel, "L" + std::to_string(layer) + ":" + NameOf(i));
            break;
          case 2:
            b.Dir(rel);
            break;
          case 3:
            if (layer > 0) {
              static constexpr Encoding kinds[] = {Encoding::kKernel, Encoding::kOci,
                                                   Encoding::kXattrWhiteout};
              b.Whiteout(rel, kinds[rng() % 3]);
            }
            break;
          default:
            break;  // absent here
        }
      }
      lowers_.insert(lowers_.begin(), root);  // the union wants topmost first
    }
  }
  std::unique_ptr<UnionFs> Open(int index_after, bool writable, const std::string& tag) {
    UnionConfig config;
    config.lowerdirs = lowers_;
    config.index_lookups_after = index_after;
    if (writable) {
      config.upperdir = dir_ / ("u-" + tag);
      config.workdir = dir_ / ("w-" + tag);
      ::mkdir(config.upperdir.c_str(), 0755);
      ::mkdir(config.workdir.c_str(), 0755);
    }
    auto fs = UnionFs::Open(config);
    EXPECT_TRUE(fs) << fs.error().Message();
    return fs ? std::move(*fs) : nullptr;
  }
  static InodeId Dir(UnionFs& fs) {
    auto e = fs.Lookup(kRootId, "d");
    EXPECT_TRUE(e) << e.error().Message();
    return e ? e->id : InodeId{};
  }
  void ExpectSame(UnionFs& indexed, InodeId di, UnionFs& probing, InodeId dp,
                  const std::string& when, bool with_ino = true) {
    for (int round = 0; round < 2; ++round) {  // the first round builds the index
      for (int i = 0; i < kNames; ++i) {
        EXPECT_EQ(Describe(indexed, di, NameOf(i), with_ino),
                  Describe(probing, dp, NameOf(i), with_ino))
            << NameOf(i) << " " << when << ", seed " << GetParam();
      }
      for (const char* odd : {".wh.n1", ".wh..wh..opq", "absent"}) {
        EXPECT_EQ(Describe(indexed, di, odd, with_ino), Describe(probing, dp, odd, with_ino))
            << odd << " " << when;
      }
    }
  }

  TempDir dir_;
  std::vector<std::string> lowers_;
};

TEST_P(LowerIndexTest, ReadOnlyLookupsEqualProbing) {
  BuildStack();
  auto indexed = Open(0, false, "i");
  auto probing = Open(-1, false, "p");
  ASSERT_TRUE(indexed && probing);
  ExpectSame(*indexed, Dir(*indexed), *probing, Dir(*probing), "read-only");
}

TEST_P(LowerIndexTest, WritableLookupsEqualProbingAcrossRemovalsAndRenames) {
  BuildStack();
  auto indexed = Open(0, true, "i");
  auto probing = Open(-1, true, "p");
  ASSERT_TRUE(indexed && probing);
  const InodeId di = Dir(*indexed), dp = Dir(*probing);
  ExpectSame(*indexed, di, *probing, dp, "before changes");
  std::mt19937 rng(GetParam() * 7919u);
  for (int step = 0; step < 40; ++step) {
    const std::string a = NameOf(static_cast<int>(rng() % kNames));
    const std::string b = NameOf(static_cast<int>(rng() % kNames));
    std::string what;
    Status si, sp;
    switch (rng() % 3) {
      case 0:
        what = "unlink " + a;
        si = indexed->Unlink(di, a);
        sp = probing->Unlink(dp, a);
        if (!si && si.error().code == EISDIR) {
          si = indexed->Rmdir(di, a);
          sp = probing->Rmdir(dp, a);
        }
        break;
      case 1: {
        what = "create " + a;
        auto ci = indexed->Create(di, a, 0644, O_RDWR, Caller{});
        auto cp = probing->Create(dp, a, 0644, O_RDWR, Caller{});
        EXPECT_EQ(bool(ci), bool(cp)) << what;
        if (ci) indexed->Forget(ci->entry.id, 1);
        if (cp) probing->Forget(cp->entry.id, 1);
        break;
      }
      default:
        what = "rename " + a + " " + b;
        si = indexed->Rename(di, a, di, b, 0);
        sp = probing->Rename(dp, a, dp, b, 0);
        break;
    }
    EXPECT_EQ(si ? 0 : si.error().code, sp ? 0 : sp.error().code) << what;
    ExpectSame(*indexed, di, *probing, dp, "after " + what, /*with_ino=*/false);
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, LowerIndexTest, ::testing::Range(1u, 9u));

// A directory's index is built once lookups there probe deep, and then answers them: seen by
// changing a lower layer behind the union's back (never allowed while mounted), which an
// index does not notice and probing does.
TEST(LowerIndexBuildTest, BuiltAfterDeepLookupsThenUsed) {
  TempDir dir;
  auto stack = [&](const std::string& tag, int layers) {
    std::vector<std::string> lowers;
    for (int layer = 0; layer < layers; ++layer) {
      const std::string root = dir / (tag + std::to_string(layer));
      LayerBuilder b(root);
      b.Dir("d");
      if (layer == 0) b.File("d/bottom", "b");
      lowers.insert(lowers.begin(), root);
    }
    UnionConfig config;
    config.lowerdirs = lowers;
    config.index_lookups_after = 2;
    auto fs = UnionFs::Open(config);
    EXPECT_TRUE(fs);
    return fs ? std::move(*fs) : nullptr;
  };
  auto add_late = [&](const std::string& tag, const std::string& name) {
    LayerBuilder(dir / (tag + "0")).File("d/" + name, "late");
  };
  auto deep = stack("deep", 5);
  auto d = deep->Lookup(kRootId, "d");
  ASSERT_TRUE(d);
  EXPECT_TRUE(deep->Lookup(d->id, "bottom")) << "deep lookup 1: probed";
  add_late("deep", "late1");
  EXPECT_TRUE(deep->Lookup(d->id, "late1")) << "deep lookup 2: probed, then the index is built";
  add_late("deep", "late2");
  auto late2 = deep->Lookup(d->id, "late2");
  ASSERT_FALSE(late2) << "answered by the index, which lists the layers as they were";
  EXPECT_EQ(late2.error().code, ENOENT);
  EXPECT_TRUE(deep->Lookup(d->id, "bottom")) << "listed names are found through it";

  auto shallow = stack("shallow", 2);  // too few layers to index
  auto s = shallow->Lookup(kRootId, "d");
  ASSERT_TRUE(s);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(shallow->Lookup(s->id, "bottom"));
  add_late("shallow", "late");
  EXPECT_TRUE(shallow->Lookup(s->id, "late"));
}

}  // namespace
}  // namespace strata::core
