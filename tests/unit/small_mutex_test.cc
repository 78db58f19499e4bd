// fs/base/small_mutex.h: mutual exclusion under contention (a plain counter and a two-field
// invariant stay exact), try_lock, and a holder that sleeps while others wait (the contended
// path through the futex), as op_mu is held across syscalls.
#include "fs/base/small_mutex.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace strata {
namespace {

TEST(SmallMutexTest, IsFourBytes) { EXPECT_EQ(sizeof(SmallMutex), 4u); }

TEST(SmallMutexTest, ExcludesUnderContention) {
  SmallMutex mu;
  long counter = 0;   // guarded by mu
  long a = 0, b = 0;  // guarded by mu; always equal outside it
  std::atomic<int> torn{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100000; ++i) {
        std::lock_guard lock(mu);
        ++counter;
        if (a != b) torn.fetch_add(1);
        ++a;
        ++b;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counter, 400000);
  EXPECT_EQ(torn.load(), 0);
}

TEST(SmallMutexTest, TryLockFailsWhileHeld) {
  SmallMutex mu;
  ASSERT_TRUE(mu.try_lock());
  std::atomic<bool> got{true};
  std::thread([&] { got = mu.try_lock(); }).join();
  EXPECT_FALSE(got.load());
  mu.unlock();
  std::thread([&] {
    got = mu.try_lock();
    if (got) mu.unlock();
  }).join();
  EXPECT_TRUE(got.load());
}

TEST(SmallMutexTest, WaitersSleepUntilALongHolderLetsGo) {
  SmallMutex mu;
  std::unique_lock holder(mu);
  std::atomic<int> entered{0};
  std::vector<std::thread> waiters;
  for (int t = 0; t < 3; ++t) {
    waiters.emplace_back([&] {
      std::lock_guard lock(mu);
      entered.fetch_add(1);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(entered.load(), 0) << "entered while held";
  holder.unlock();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(entered.load(), 3) << "every waiter woke";
}

}  // namespace
}  // namespace strata
