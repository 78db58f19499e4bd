// fs/core/dir_listing.h: offsets name their listing and index (positive, distinct across
// listings of one directory), and the cache keeps what streams are reading within its budget,
// finds a listing only for its own directory, and drops what was read to its end first.
#include "fs/core/dir_listing.h"

#include <dirent.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace strata::core {
namespace {

std::vector<DirEntry> Entries(int n) {
  std::vector<DirEntry> out{{".", 1, DT_DIR, 0}, {"..", 1, DT_DIR, 0}};
  for (int i = 0; i < n; ++i) out.push_back({"f" + std::to_string(i), 100u + i, DT_REG, 0});
  return out;
}

TEST(DirListingTest, OffsetsNameTheListingAndTheNextIndex) {
  DirListings cache(1000);
  auto a = cache.Take(7, Entries(10));
  auto b = cache.Take(7, Entries(10));
  EXPECT_NE(a->id, 0u);
  EXPECT_NE(a->id, b->id) << "two listings of one directory";
  std::set<off_t> offsets;
  for (const auto& l : {a, b}) {
    for (size_t i = 0; i < l->entries.size(); ++i) {
      const off_t off = l->OffsetAfter(i);
      EXPECT_GT(off, 0);
      EXPECT_EQ(ListingOf(off), l->id);
      EXPECT_EQ(IndexAt(off), i + 1);
      EXPECT_TRUE(offsets.insert(off).second);
    }
  }
  EXPECT_EQ(ListingOf(0), 0u);
  EXPECT_EQ(IndexAt(0), 0u);
}

TEST(DirListingTest, FindsAListingOnlyForItsDirectory) {
  DirListings cache(1000);
  auto l = cache.Take(5, Entries(10));
  EXPECT_EQ(cache.Find(5, l->id), l);
  EXPECT_EQ(cache.Find(6, l->id), nullptr) << "an offset of another directory";
  EXPECT_EQ(cache.Find(5, l->id + 1), nullptr);
  EXPECT_EQ(cache.Size(), 12u);
}

TEST(DirListingTest, ListingsReadToTheirEndAreDroppedFirst) {
  DirListings cache(8 * 100);               // 100 entries per shard; ids are consecutive, 8 shards
  auto done = cache.Take(5, Entries(38));   // 40 entries
  std::shared_ptr<const DirListing> other;  // the next one in the same shard
  for (int i = 0; i < 8; ++i) other = cache.Take(6, Entries(38));
  ASSERT_EQ(done->id % 8, other->id % 8);
  ASSERT_NE(cache.Find(5, done->id), nullptr);  // read last: the most recent of the two
  cache.Finish(done->id);
  cache.Finish(done->id);  // twice: harmless
  EXPECT_EQ(cache.Size(), 9u * 40) << "kept while there is room";
  std::shared_ptr<const DirListing> third;
  for (int i = 0; i < 8; ++i) third = cache.Take(7, Entries(38));
  ASSERT_EQ(third->id % 8, done->id % 8);
  EXPECT_EQ(cache.Find(5, done->id), nullptr) << "finished: dropped first";
  EXPECT_NE(cache.Find(6, other->id), nullptr) << "unfinished, though read less recently";
  EXPECT_EQ(done->entries.size(), 40u) << "a reader still holding it keeps it valid";
  cache.Finish(12345);  // unknown: harmless
}

TEST(DirListingTest, StaysWithinBudgetDroppingTheLeastRecentlyRead) {
  DirListings cache(8 * 100);  // 100 entries per shard
  std::vector<std::shared_ptr<const DirListing>> taken;
  for (uint64_t dir = 0; dir < 400; ++dir) taken.push_back(cache.Take(dir, Entries(48)));  // 50
  EXPECT_LE(cache.Size(), 8u * 100);
  for (size_t i = 392; i < 400; ++i) {
    EXPECT_NE(cache.Find(i, taken[i]->id), nullptr) << i;  // the two most recent per shard
  }
  EXPECT_EQ(cache.Find(0, taken[0]->id), nullptr);
  // Reading one makes it the most recent of its shard: a new listing there drops the other.
  const size_t shard_mate = 392 - 8;  // ids are consecutive: same shard as 392
  ASSERT_NE(cache.Find(shard_mate, taken[shard_mate]->id), nullptr);
  ASSERT_NE(cache.Find(392, taken[392]->id), nullptr);
  auto fresh = cache.Take(1000, Entries(48));
  ASSERT_EQ(fresh->id % 8, taken[392]->id % 8);
  EXPECT_NE(cache.Find(392, taken[392]->id), nullptr) << "read last: stays";
  EXPECT_EQ(cache.Find(shard_mate, taken[shard_mate]->id), nullptr);
  // Over the budget alone: kept, the shard's others dropped.
  std::shared_ptr<const DirListing> big;
  do big = cache.Take(2000, Entries(5000));
  while (big->id % 8 != fresh->id % 8);
  EXPECT_NE(cache.Find(2000, big->id), nullptr);
  EXPECT_EQ(cache.Find(1000, fresh->id), nullptr);
  EXPECT_EQ(cache.Find(392, taken[392]->id), nullptr);
}

}  // namespace
}  // namespace strata::core
