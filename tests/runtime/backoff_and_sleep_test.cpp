#include <gtest/gtest.h>

#include <chrono>
#include <stop_token>
#include <thread>

#include "runtime/backoff.h"
#include "runtime/stop_aware_sleep.h"

namespace agentproxy::runtime {
namespace {

using namespace std::chrono_literals;

TEST(BackoffPolicy, DoublesFromInitialUpToMaxWithoutOverflow) {
  BackoffPolicy policy{100ms, 10s};
  EXPECT_EQ(policy.delay(0), 100ms);
  EXPECT_EQ(policy.delay(1), 200ms);
  EXPECT_EQ(policy.delay(6), 6400ms);
  EXPECT_EQ(policy.delay(7), 10s);
  EXPECT_EQ(policy.delay(64), 10s);      // a shift would overflow here
  EXPECT_EQ(policy.delay(100000), 10s);  // failing for days
}

TEST(Backoff, NextWaitsLongerEachTimeAndResetStartsOver) {
  Backoff backoff({1s, 30s});
  EXPECT_EQ(backoff.next(), 1s);
  EXPECT_EQ(backoff.next(), 2s);
  EXPECT_EQ(backoff.next(), 4s);
  EXPECT_EQ(backoff.next(), 8s);
  EXPECT_EQ(backoff.next(), 16s);
  EXPECT_EQ(backoff.next(), 30s);
  EXPECT_EQ(backoff.next(), 30s);
  backoff.reset();
  EXPECT_EQ(backoff.next(), 1s);
}

TEST(SleepUnlessStopped, GoesOnAfterTheWholeDelay) {
  std::stop_source source;
  EXPECT_TRUE(sleepUnlessStopped(source.get_token(), 1ms));
  EXPECT_TRUE(sleepUnlessStopped(std::stop_token(), 0ms));  // a token nobody can stop
}

TEST(SleepUnlessStopped, StopsAtOnceWhenAlreadyStopped) {
  std::stop_source source;
  source.request_stop();
  EXPECT_FALSE(sleepUnlessStopped(source.get_token(), std::chrono::hours(1)));
}

TEST(SleepUnlessStopped, AStopRequestWakesALongSleep) {
  std::stop_source source;
  std::jthread stopper([&source] {
    std::this_thread::sleep_for(10ms);
    source.request_stop();
  });
  // Without the wake-up this would sleep for an hour (and the test would time out).
  EXPECT_FALSE(sleepUnlessStopped(source.get_token(), std::chrono::hours(1)));
}

}  // namespace
}  // namespace agentproxy::runtime
