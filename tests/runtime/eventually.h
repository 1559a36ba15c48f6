// Waiting for another thread in tests: poll a condition with millisecond naps, bounded, instead
// of sleeping a fixed time.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <thread>

#include "runtime/fake_clock.h"

namespace agentproxy::runtime {

// True as soon as `condition` holds; false after about two seconds of real time.
inline bool eventually(const std::function<bool()>& condition) {
  for (int i = 0; i < 2000; ++i) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return condition();
}

// Moves `clock` forward in `step`s until `condition` holds or `limit` of fake time has passed;
// true when it held. Before each step it waits until `sleepers` threads are blocked on the
// clock, so every thread sees every step, however slowly it is scheduled.
inline bool advanceUntil(FakeClock& clock, std::size_t sleepers, Clock::Duration step,
                         Clock::Duration limit, const std::function<bool()>& condition) {
  for (Clock::Duration passed{};; passed += step) {
    eventually([&] { return condition() || clock.blockedWaiters() >= sleepers; });
    if (condition()) return true;
    if (passed >= limit) return false;
    clock.advance(step);
  }
}

}  // namespace agentproxy::runtime
