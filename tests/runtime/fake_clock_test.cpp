#include "runtime/fake_clock.h"

#include <gtest/gtest.h>

#include <thread>

#include "eventually.h"

namespace agentproxy::runtime {
namespace {

using std::chrono::seconds;

TEST(FakeClock, MovesOnlyWhenAdvanced) {
  FakeClock clock;
  const Clock::TimePoint start = clock.now();
  const Clock::WallTime wallStart = clock.wallNow();
  EXPECT_EQ(clock.now(), start);
  clock.advance(seconds(3));
  EXPECT_EQ(clock.now() - start, seconds(3));
  EXPECT_EQ(clock.wallNow() - wallStart, seconds(3));
}

TEST(FakeClock, AdvancePastDeadlineWakesWaiter) {
  FakeClock clock;
  std::mutex mutex;
  std::condition_variable cv;
  const Clock::TimePoint deadline = clock.now() + seconds(10);
  std::atomic<bool> woke = false;
  std::thread waiter([&] {
    std::unique_lock<std::mutex> lock(mutex);
    while (clock.now() < deadline) clock.waitUntil(lock, cv, deadline);
    woke = true;
  });
  ASSERT_TRUE(eventually([&] { return clock.blockedWaiters() == 1; }));
  clock.advance(seconds(5));
  // Woken by the advance, the waiter finds its deadline still ahead and blocks again: the
  // negative check waits for that, on the fake clock, not for a guessed real-time moment.
  ASSERT_TRUE(eventually([&] { return clock.blockedWaiters() == 1; }));
  EXPECT_FALSE(woke.load());
  clock.advance(seconds(5));
  EXPECT_TRUE(eventually([&] { return woke.load(); }));
  waiter.join();
}

TEST(FakeClock, NotificationOfTheCallersOwnStateIsNeverLost) {
  FakeClock clock;
  for (int round = 0; round < 50; ++round) {
    std::mutex mutex;
    std::condition_variable cv;
    bool stop = false;
    std::atomic<bool> returned = false;
    std::thread waiter([&] {
      std::unique_lock<std::mutex> lock(mutex);
      while (!stop) clock.waitUntil(lock, cv, clock.now() + std::chrono::hours(1));
      returned = true;
    });
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop = true;
      cv.notify_all();
    }
    ASSERT_TRUE(eventually([&] { return returned.load(); })) << "round " << round;
    waiter.join();
  }
}

}  // namespace
}  // namespace agentproxy::runtime
