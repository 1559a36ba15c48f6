#include "runtime/clock.h"

namespace agentproxy::runtime {

Clock::TimePoint SystemClock::now() const { return std::chrono::steady_clock::now(); }

Clock::WallTime SystemClock::wallNow() const { return std::chrono::system_clock::now(); }

void SystemClock::waitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                            TimePoint deadline) {
  cv.wait_until(lock, deadline);
}

Clock& systemClock() {
  static SystemClock clock;
  return clock;
}

}  // namespace agentproxy::runtime
