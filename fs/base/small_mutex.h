// SmallMutex: a 4-byte mutex for objects there are millions of (a node per file the kernel
// holds), where std::mutex's 40 bytes would be most of the object. A futex-based lock
// (Drepper, "Futexes Are Tricky", mutex 2): uncontended lock and unlock are one atomic
// operation each; a contended lock sleeps in the kernel, so it may be held across syscalls.
// Not recursive; satisfies Lockable (std::lock_guard, std::unique_lock).
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace strata {

class SmallMutex {
 public:
  SmallMutex() = default;
  SmallMutex(const SmallMutex&) = delete;
  SmallMutex& operator=(const SmallMutex&) = delete;

  void lock() {
    uint32_t c = kFree;
    if (state_.compare_exchange_strong(c, kLocked, std::memory_order_acquire)) return;
    if (c != kContended) c = state_.exchange(kContended, std::memory_order_acquire);
    while (c != kFree) {
      Futex(FUTEX_WAIT_PRIVATE, kContended);
      c = state_.exchange(kContended, std::memory_order_acquire);
    }
  }
  bool try_lock() {
    uint32_t c = kFree;
    return state_.compare_exchange_strong(c, kLocked, std::memory_order_acquire);
  }
  void unlock() {
    if (state_.exchange(kFree, std::memory_order_release) == kContended)
      Futex(FUTEX_WAKE_PRIVATE, 1);
  }

 private:
  static constexpr uint32_t kFree = 0, kLocked = 1,
                            kContended = 2;  // kContended: waiters may sleep

  void Futex(int op, uint32_t value) {
    ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&state_), op, value, nullptr, nullptr, 0);
  }

  std::atomic<uint32_t> state_{kFree};
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
};

}  // namespace strata
