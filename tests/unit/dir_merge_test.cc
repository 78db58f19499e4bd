// The merged listing at scale: linear in the number of entries, each name once.
#include <gtest/gtest.h>
#include <unistd.h>

#include <set>

#include "fs/core/union_fs.h"
#include "tests/support/layer_builder.h"
#include "tests/support/temp_dir.h"

namespace strata::core {
namespace {

TEST(DirMergeTest, LargeDirectoriesMergeWithWhiteouts) {
  testing::TempDir dir;
  testing::LayerBuilder bottom(dir / "l0"), top(dir / "l1");
  constexpr int kPerLayer = 20000;
  // bottom: n0..n19999; top: n10000..n29999 plus OCI whiteouts of n0..n999.
  for (int i = 0; i < kPerLayer; ++i) bottom.File("d/n" + std::to_string(i));
  for (int i = kPerLayer / 2; i < kPerLayer / 2 + kPerLayer; ++i)
    top.File("d/n" + std::to_string(i));
  for (int i = 0; i < 1000; ++i) top.Whiteout("d/n" + std::to_string(i), testing::Encoding::kOci);
  UnionConfig config;
  config.lowerdirs = {dir / "l1", dir / "l0"};
  auto fs = UnionFs::Open(config);
  ASSERT_TRUE(fs);
  auto d = (*fs)->Lookup(kRootId, "d");
  ASSERT_TRUE(d);
  auto entries = (*fs)->ReadDir(d->id);
  ASSERT_TRUE(entries);
  std::set<std::string> names;
  for (const DirEntry& e : *entries) ASSERT_TRUE(names.insert(e.name).second) << e.name;
  EXPECT_EQ(names.size(), 2u + 30000u - 1000u);
  EXPECT_FALSE(names.contains("n999"));
  EXPECT_TRUE(names.contains("n1000"));
  EXPECT_TRUE(names.contains("n29999"));
  for (const auto& n : names) EXPECT_FALSE(n.starts_with(".wh.")) << n;
}

}  // namespace
}  // namespace strata::core
