#include <gtest/gtest.h>

#include <chrono>
#include <stop_token>
#include <thread>

#include "runtime/stop_aware_sleep.h"

namespace agentproxy::runtime {
namespace {

using namespace std::chrono_literals;

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
