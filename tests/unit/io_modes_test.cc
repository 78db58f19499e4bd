// fs/fuse/passthrough.h's choice of I/O mode per open, with no kernel: the rules the kernel
// enforces (one mode per inode, one backing file per inode in passthrough) are never broken,
// whatever order opens and releases come in, and backing files are registered and
// unregistered exactly once.
#include <gtest/gtest.h>

#include <cerrno>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "fs/fuse/passthrough.h"

namespace strata::fuse {
namespace {

// Stands in for the kernel's backing-file registry.
class FakeRegistry {
 public:
  int result = 0;  // 0: grant ids; else the -errno every registration fails with
  IoModes::OpenBacking Opener() {
    return [this](int fd) {
      std::lock_guard lock(mu_);
      if (result != 0) return result;
      const int id = ++next_;
      live_[id] = fd;
      ++opened;
      return id;
    };
  }
  IoModes::CloseBacking Closer() {
    return [this](int id) {
      std::lock_guard lock(mu_);
      EXPECT_EQ(live_.erase(id), 1u) << "backing id " << id << " closed twice or never opened";
    };
  }
  size_t live() {
    std::lock_guard lock(mu_);
    return live_.size();
  }
  int opened = 0;

 private:
  std::mutex mu_;
  int next_ = 0;
  std::map<int, int> live_;
};

TEST(IoModesTest, OffUntilEnabled) {
  IoModes modes;
  FakeRegistry reg;
  const auto c = modes.Choose(7, /*settled=*/true, 3, reg.Opener());
  EXPECT_EQ(c.backing_id, 0);
  EXPECT_EQ(reg.opened, 0);
  modes.Release(7, c, reg.Closer());
}

TEST(IoModesTest, SettledOpensShareOneBackingFile) {
  IoModes modes;
  modes.Enable();
  FakeRegistry reg;
  const auto a = modes.Choose(7, true, 3, reg.Opener());
  const auto b = modes.Choose(7, true, 4, reg.Opener());
  ASSERT_GT(a.backing_id, 0);
  EXPECT_EQ(b.backing_id, a.backing_id) << "the kernel allows one backing file per inode";
  EXPECT_EQ(reg.opened, 1);
  const auto other = modes.Choose(8, true, 5, reg.Opener());
  EXPECT_NE(other.backing_id, a.backing_id);
  modes.Release(7, a, reg.Closer());
  EXPECT_EQ(reg.live(), 2u) << "still used by b";
  modes.Release(7, b, reg.Closer());
  EXPECT_EQ(reg.live(), 1u) << "unregistered with the node's last passthrough open";
  modes.Release(8, other, reg.Closer());
  EXPECT_EQ(reg.live(), 0u);
  const auto again = modes.Choose(7, true, 6, reg.Opener());
  EXPECT_GT(again.backing_id, 0) << "a new backing file after all were released";
  modes.Release(7, again, reg.Closer());
}

TEST(IoModesTest, ACachedOpenKeepsTheNodeCached) {
  IoModes modes;
  modes.Enable();
  FakeRegistry reg;
  const auto lower_reader = modes.Choose(7, /*settled=*/false, 3, reg.Opener());
  EXPECT_EQ(lower_reader.backing_id, 0) << "it must follow a copy-up";
  const auto writer = modes.Choose(7, /*settled=*/true, 4, reg.Opener());
  EXPECT_EQ(writer.backing_id, 0) << "the kernel refuses passthrough next to a cached open";
  modes.Release(7, lower_reader, reg.Closer());
  const auto reader = modes.Choose(7, true, 5, reg.Opener());
  EXPECT_EQ(reader.backing_id, 0) << "the writer is still cached";
  modes.Release(7, writer, reg.Closer());
  modes.Release(7, reader, reg.Closer());
  const auto later = modes.Choose(7, true, 6, reg.Opener());
  EXPECT_GT(later.backing_id, 0) << "no cached open is left";
  modes.Release(7, later, reg.Closer());
  EXPECT_EQ(reg.live(), 0u);
}

TEST(IoModesTest, AnUnsettledOpenJoinsLivePassthroughOpens) {
  // A read open that found the lower file just before a copy-up: the node is upper now and in
  // passthrough; the upper backing file is its current data, and a cached open would fail.
  IoModes modes;
  modes.Enable();
  FakeRegistry reg;
  const auto writer = modes.Choose(7, true, 3, reg.Opener());
  const auto raced = modes.Choose(7, false, 4, reg.Opener());
  EXPECT_EQ(raced.backing_id, writer.backing_id);
  modes.Release(7, writer, reg.Closer());
  modes.Release(7, raced, reg.Closer());
  EXPECT_EQ(reg.live(), 0u);
}

TEST(IoModesTest, EpermTurnsPassthroughOffOtherErrorsFallBackPerOpen) {
  IoModes modes;
  modes.Enable();
  FakeRegistry reg;
  reg.result = -ELOOP;  // a backing file on a stacked filesystem
  const auto a = modes.Choose(7, true, 3, reg.Opener());
  EXPECT_EQ(a.backing_id, 0);
  EXPECT_TRUE(modes.enabled());
  reg.result = 0;
  const auto b = modes.Choose(8, true, 4, reg.Opener());
  EXPECT_GT(b.backing_id, 0);
  reg.result = -EPERM;  // no CAP_SYS_ADMIN
  const auto c = modes.Choose(9, true, 5, reg.Opener());
  EXPECT_EQ(c.backing_id, 0);
  EXPECT_FALSE(modes.enabled());
  for (auto [node, choice] : {std::pair{7, a}, {8, b}, {9, c}}) {
    modes.Release(node, choice, reg.Closer());
  }
  EXPECT_EQ(reg.live(), 0u);
}

// Many threads opening and releasing the same few nodes in both modes: at every moment a node
// is in one mode only, and every registered backing file is unregistered once.
TEST(IoModesTest, ConcurrentOpensNeverMixModes) {
  IoModes modes;
  modes.Enable();
  FakeRegistry reg;
  constexpr int kNodes = 3;
  std::mutex state_mu;
  std::map<uint64_t, std::pair<int, int>> live;  // node -> (cached, passthrough) as chosen
  std::map<uint64_t, int> backing;               // node -> its passthrough backing id
  auto release = [&](uint64_t node, IoModes::Choice c) {
    {
      std::lock_guard lock(state_mu);
      auto& [cached, pt] = live[node];
      (c.backing_id > 0 ? pt : cached) -= 1;
    }
    modes.Release(node, c, reg.Closer());
  };
  auto worker = [&](unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<std::pair<uint64_t, IoModes::Choice>> held;
    for (int i = 0; i < 4000; ++i) {
      if (held.empty() || rng() % 2) {
        const uint64_t node = rng() % kNodes;
        const auto c = modes.Choose(node, rng() % 4 != 0, 3, reg.Opener());
        std::lock_guard lock(state_mu);
        auto& [cached, pt] = live[node];
        if (c.backing_id > 0) {
          EXPECT_EQ(cached, 0) << "passthrough next to a cached open";
          if (pt > 0) {
            EXPECT_EQ(backing[node], c.backing_id) << "two backing files";
          }
          backing[node] = c.backing_id;
          ++pt;
        } else {
          EXPECT_EQ(pt, 0) << "cached next to a passthrough open";
          ++cached;
        }
        held.emplace_back(node, c);
      } else {
        const size_t k = rng() % held.size();
        const auto [node, c] = held[k];
        held.erase(held.begin() + static_cast<long>(k));
        release(node, c);
      }
    }
    for (auto [node, c] : held) release(node, c);
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 4; ++t) threads.emplace_back(worker, t + 1);
  for (auto& t : threads) t.join();
  EXPECT_EQ(reg.live(), 0u);
  EXPECT_GT(reg.opened, 1);
}

}  // namespace
}  // namespace strata::fuse
