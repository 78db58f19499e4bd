#include "fs/core/inode_table.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace strata::core {
namespace {

std::shared_ptr<Inode> Node(uint64_t ino) {
  auto n = std::make_shared<Inode>(S_IFREG);
  n->st_ino = ino;
  return n;
}

TEST(InodeTableTest, InsertFindForget) {
  InodeTable table(Node(1));
  auto a = table.InsertAndRef(Node(10));
  EXPECT_NE(a->id, kRootId);
  EXPECT_EQ(table.Get(a->id), a);
  EXPECT_EQ(table.FindAndRef(10), a);
  // A racing insert of the same origin gets the published node.
  EXPECT_EQ(table.InsertAndRef(Node(10)), a);
  EXPECT_EQ(table.Size(), 2u);
  table.Forget(a->id, 2);
  EXPECT_EQ(table.Get(a->id), a);
  table.Forget(a->id, 1);
  EXPECT_EQ(table.Get(a->id), nullptr);
  EXPECT_EQ(table.FindAndRef(10), nullptr);
  EXPECT_EQ(table.Size(), 1u);
  table.Forget(InodeId{12345}, 1);  // unknown ids are ignored
  EXPECT_EQ(table.Get(kRootId)->st_ino, 1u);
}

TEST(InodeTableTest, ConcurrentLookupsAndForgetsBalance) {
  InodeTable table(Node(1));
  constexpr int kThreads = 8, kRounds = 20000, kKeys = 64;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&table, t] {
      for (int i = 0; i < kRounds; ++i) {
        const uint64_t ino = 100 + static_cast<uint64_t>((i * 7 + t) % kKeys);
        auto node = table.FindAndRef(ino);
        if (!node) node = table.InsertAndRef(Node(ino));
        ASSERT_EQ(node->st_ino, ino);
        ASSERT_EQ(table.Get(node->id), node) << "a referenced node stays published";
        table.Forget(node->id, 1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(table.Size(), 1u) << "every reference was returned";
}

}  // namespace
}  // namespace strata::core
