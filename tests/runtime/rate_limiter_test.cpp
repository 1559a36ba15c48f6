#include "runtime/rate_limiter.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace agentproxy::runtime {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(RateLimiter, PerKeyBackoffDoublesFromFiveMilliseconds) {
  RateLimiter limiter;
  const Clock::TimePoint now{};
  EXPECT_EQ(limiter.when("a", now), milliseconds(5));
  EXPECT_EQ(limiter.when("a", now), milliseconds(10));
  EXPECT_EQ(limiter.when("a", now), milliseconds(20));
  EXPECT_EQ(limiter.when("a", now), milliseconds(40));
  EXPECT_EQ(limiter.numRequeues("a"), 4);
  // Another key has its own backoff.
  EXPECT_EQ(limiter.when("b", now), milliseconds(5));
  EXPECT_EQ(limiter.numRequeues("b"), 1);
}

TEST(RateLimiter, BackoffCapsAtThousandSecondsWithoutOverflow) {
  RateLimiter limiter({milliseconds(5), seconds(1000), 1e9, 1'000'000});
  Clock::Duration last{};
  for (int i = 0; i < 200; ++i) last = limiter.when("a", Clock::TimePoint{});
  EXPECT_EQ(last, seconds(1000));
}

TEST(RateLimiter, ForgetStartsTheKeyOver) {
  RateLimiter limiter;
  limiter.when("a", Clock::TimePoint{});
  limiter.when("a", Clock::TimePoint{});
  limiter.forget("a");
  EXPECT_EQ(limiter.numRequeues("a"), 0);
  EXPECT_EQ(limiter.when("a", Clock::TimePoint{}), milliseconds(5));
}

TEST(RateLimiter, BucketAllowsBurstOfHundredThenTenPerSecond) {
  RateLimiter limiter;
  const Clock::TimePoint now{};
  // Distinct keys, so only the bucket can delay them.
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(limiter.when("key" + std::to_string(i), now), milliseconds(5)) << i;
  }
  EXPECT_EQ(limiter.when("key100", now), milliseconds(100));
  EXPECT_EQ(limiter.when("key101", now), milliseconds(200));
  // A second refills ten tokens, two of which repay the debt: eight more go without waiting.
  const Clock::TimePoint later = now + seconds(1);
  for (int i = 102; i < 110; ++i) {
    EXPECT_EQ(limiter.when("key" + std::to_string(i), later), milliseconds(5)) << i;
  }
  EXPECT_EQ(limiter.when("key110", later), milliseconds(100));
}

TEST(RateLimiter, BucketRefillsUpToBurstOnly) {
  RateLimiter limiter({milliseconds(5), seconds(1000), 10, 2});
  const Clock::TimePoint now{};
  limiter.when("a", now);
  limiter.when("b", now);
  // An hour idle refills two tokens, not 36000.
  const Clock::TimePoint later = now + std::chrono::hours(1);
  EXPECT_EQ(limiter.when("c", later), milliseconds(5));
  EXPECT_EQ(limiter.when("d", later), milliseconds(5));
  EXPECT_EQ(limiter.when("e", later), milliseconds(100));
}

TEST(RateLimiter, RejectsNonsenseConfig) {
  EXPECT_THROW(RateLimiter({milliseconds(0), seconds(1), 10, 100}), std::invalid_argument);
  EXPECT_THROW(RateLimiter({seconds(2), seconds(1), 10, 100}), std::invalid_argument);
  EXPECT_THROW(RateLimiter({milliseconds(5), seconds(1), 0, 100}), std::invalid_argument);
  EXPECT_THROW(RateLimiter({milliseconds(5), seconds(1), 10, 0}), std::invalid_argument);
}

}  // namespace
}  // namespace agentproxy::runtime
