#include "runtime/fake_clock.h"

namespace agentproxy::runtime {

FakeClock::FakeClock(WallTime wallStart) : wallStart_(wallStart) {}

Clock::TimePoint FakeClock::now() const { return TimePoint(Duration(elapsed_.load())); }

Clock::WallTime FakeClock::wallNow() const {
  return wallStart_ + std::chrono::duration_cast<WallTime::duration>(Duration(elapsed_.load()));
}

void FakeClock::waitUntil(std::unique_lock<std::mutex>& lock, std::condition_variable& cv,
                          TimePoint deadline) {
  if (now() >= deadline) return;
  std::list<Waiter>::iterator registered;
  {
    std::lock_guard<std::mutex> guard(waitersMutex_);
    registered = waiters_.insert(waiters_.end(), Waiter{deadline, &cv});
  }
  // An advance() between the check above and the wait below notifies nobody; the short real
  // timeout bounds how late this waiter then notices the new time.
  cv.wait_for(lock, kMissedAdvanceBound);
  std::lock_guard<std::mutex> guard(waitersMutex_);
  waiters_.erase(registered);
}

void FakeClock::advance(Duration by) {
  elapsed_.fetch_add(by.count());
  std::lock_guard<std::mutex> guard(waitersMutex_);
  for (const Waiter& waiter : waiters_) waiter.cv->notify_all();
}

std::size_t FakeClock::blockedWaiters() const {
  const TimePoint current = now();
  std::lock_guard<std::mutex> guard(waitersMutex_);
  std::size_t blocked = 0;
  for (const Waiter& waiter : waiters_) {
    if (waiter.deadline > current) ++blocked;
  }
  return blocked;
}

}  // namespace agentproxy::runtime
