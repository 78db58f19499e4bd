#include "fs/core/inode_table.h"

#include <gtest/gtest.h>

#include <set>
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

TEST(InodeTableTest, PruneCandidatesAreTheOldestNodesNotAskedForSinceTheClockPassed) {
  InodeTable table(Node(1));
  std::vector<InodeId> ids;
  for (uint64_t i = 0; i < 600; ++i) ids.push_back(table.InsertAndRef(Node(100 + i))->id);
  // Nodes asked for since: a request's Get, a lookup's FindAndRef.
  const std::set<uint64_t> asked = {ids[0].value, ids[1].value, ids[2].value};
  (void)table.Get(ids[0]);
  (void)table.FindAndRef(101);
  (void)table.Get(ids[2]);
  table.Forget(ids[3], 1);  // forgotten: never named

  std::set<uint64_t> named;
  for (InodeId id : table.PruneCandidates(10000)) {
    EXPECT_TRUE(named.insert(id.value).second) << "named once in a sweep";
    EXPECT_FALSE(asked.contains(id.value)) << "a node asked for is skipped once";
    EXPECT_NE(id, ids[3]);
    EXPECT_NE(id, kRootId);
  }
  // Each shard gives at most its share of what was asked for, oldest first.
  EXPECT_LE(table.PruneCandidates(64).size(), 64u);

  // The hand went past them: the next sweeps name the asked-for ones too (the kernel keeps
  // what it uses, and only its forget takes a node out).
  std::set<uint64_t> later;
  for (int round = 0; round < 4; ++round) {
    for (InodeId id : table.PruneCandidates(10000)) later.insert(id.value);
  }
  for (uint64_t id : asked) EXPECT_TRUE(later.contains(id));
  EXPECT_EQ(later.size(), 599u);  // all but the forgotten one
}

TEST(InodeTableTest, TheBudgetCallsOncePerArmingWhenPassed) {
  InodeTable table(Node(1));
  int calls = 0;
  table.SetBudget(10, [&] { ++calls; });
  std::vector<InodeId> ids;
  for (uint64_t i = 0; i < 9; ++i) ids.push_back(table.InsertAndRef(Node(100 + i))->id);
  EXPECT_EQ(table.Size(), 10u);
  EXPECT_EQ(calls, 0) << "at the budget, not past it";
  ids.push_back(table.InsertAndRef(Node(200))->id);
  ids.push_back(table.InsertAndRef(Node(201))->id);
  EXPECT_EQ(calls, 1) << "not again until re-armed";
  (void)table.InsertAndRef(Node(200));  // found, not published: no call
  table.ReArm();
  EXPECT_EQ(calls, 1);
  (void)table.InsertAndRef(Node(202));
  EXPECT_EQ(calls, 2);
  table.SetBudget(0, nullptr);
  table.ReArm();
  (void)table.InsertAndRef(Node(203));
  EXPECT_EQ(calls, 2);
}

TEST(InodeTableTest, ForgottenIdsDoNotPileUpInTheClock) {
  InodeTable table(Node(1));
  // Create-and-forget churn with no sweep: the clock is compacted as it goes (the test shows
  // it by the sweep afterwards finding exactly the live nodes).
  for (uint64_t i = 0; i < 200000; ++i) table.Forget(table.InsertAndRef(Node(1000 + i))->id, 1);
  std::vector<InodeId> live;
  for (uint64_t i = 0; i < 5; ++i) live.push_back(table.InsertAndRef(Node(10 + i))->id);
  std::set<uint64_t> named;
  for (int round = 0; round < 200 && named.size() < live.size(); ++round) {
    for (InodeId id : table.PruneCandidates(64)) named.insert(id.value);
  }
  EXPECT_EQ(named.size(), live.size());
  EXPECT_EQ(table.Size(), 6u);
}

}  // namespace
}  // namespace strata::core
