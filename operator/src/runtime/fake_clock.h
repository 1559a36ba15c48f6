// A Clock whose time moves only when a test says so.
//
// Guarantees: advance() wakes every thread blocked in waitUntil() on this clock, so a worker
// waiting for a delayed key or a leader waiting for its next renewal runs as soon as the test
// moves time past its deadline, with no real sleeping. now() and wallNow() move together.
// waitUntil() never releases the caller's mutex except inside the condition variable's own
// wait, so notifications of the caller's own state are never lost.
// Assumption: a test tolerates a wakeup lagging advance() by up to a millisecond of real time
// (advance() notifies without the waiter's mutex, so a waiter that was about to wait re-checks
// the time after that millisecond).
#pragma once

#include <atomic>
#include <cstddef>
#include <list>

#include "runtime/clock.h"

namespace agentproxy::runtime {

class FakeClock final : public Clock {
 public:
  // Starts at an arbitrary steady time and at `wallStart` on the calendar.
  explicit FakeClock(WallTime wallStart = WallTime(std::chrono::seconds(1'800'000'000)));

  TimePoint now() const override;
  WallTime wallNow() const override;
  void waitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 TimePoint deadline) override;

  void advance(Duration by);

  // Threads blocked in waitUntil() for a deadline still ahead: a test that knows how many
  // threads should be asleep waits for this count before moving time again, so no thread
  // misses a step.
  std::size_t blockedWaiters() const;

 private:
  struct Waiter {
    TimePoint deadline;
    std::condition_variable* cv;
  };
  static constexpr std::chrono::milliseconds kMissedAdvanceBound{1};

  const WallTime wallStart_;
  std::atomic<Duration::rep> elapsed_{0};
  // Guards waiters_; taken by waiters while they hold their own mutex, so advance() must not
  // take a waiter's mutex under it.
  mutable std::mutex waitersMutex_;
  std::list<Waiter> waiters_;
};

}  // namespace agentproxy::runtime
