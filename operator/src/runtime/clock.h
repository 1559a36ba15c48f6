// The time source of the runtime: every component that waits or stamps time takes a Clock, so
// that tests drive time by hand (FakeClock) instead of sleeping.
//
// Guarantees: now() never goes backwards (it is a steady clock, for deadlines and durations);
// wallNow() is the calendar time, for timestamps other processes read (Lease renewTime, log ts).
// waitUntil() returns when `cv` is notified or when `deadline` has passed on this clock, and may
// return early, so callers re-check their own condition in a loop, as with a condition variable.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace agentproxy::runtime {

class Clock {
 public:
  using Duration = std::chrono::steady_clock::duration;
  using TimePoint = std::chrono::steady_clock::time_point;
  using WallTime = std::chrono::system_clock::time_point;

  virtual ~Clock() = default;

  virtual TimePoint now() const = 0;
  virtual WallTime wallNow() const = 0;

  // `lock` holds the mutex that guards the state `cv` signals; it is held again on return.
  virtual void waitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                         TimePoint deadline) = 0;
};

// The process's real clocks.
class SystemClock final : public Clock {
 public:
  TimePoint now() const override;
  WallTime wallNow() const override;
  void waitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                 TimePoint deadline) override;
};

// One shared real clock, the default of every component.
Clock& systemClock();

}  // namespace agentproxy::runtime
