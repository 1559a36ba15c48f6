// How long a failed key waits before its retry: controller-runtime's default controller rate
// limiter, the larger of a per-key exponential backoff (client-go's
// ItemExponentialFailureRateLimiter) and an overall token bucket (BucketRateLimiter).
//
// Guarantees: the n-th consecutive failure of a key (n from 0) waits at least
// min(baseDelay * 2^n, maxDelay); forget() starts the key over at baseDelay; across all keys,
// retries are spread to at most `qps` per second after an initial `burst`. Pure: the caller
// passes the time and serialises the calls (WorkQueue does both under its lock).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <unordered_map>

#include "runtime/clock.h"

namespace agentproxy::runtime {

struct RateLimiterConfig {
  Clock::Duration baseDelay = std::chrono::milliseconds(5);
  Clock::Duration maxDelay = std::chrono::seconds(1000);
  double qps = 10;
  int burst = 100;
};

class RateLimiter {
 public:
  // Throws std::invalid_argument when a delay, qps or burst is not positive, or base > max.
  explicit RateLimiter(RateLimiterConfig config = {});

  // Records a failure of `key` at `now` and returns how long its retry must wait.
  Clock::Duration when(const std::string& key, Clock::TimePoint now);
  void forget(const std::string& key);
  // Failures recorded for `key` since it was last forgotten.
  int numRequeues(const std::string& key) const;

 private:
  Clock::Duration backoff(int failures) const;
  Clock::Duration reserveToken(Clock::TimePoint now);

  RateLimiterConfig config_;
  std::unordered_map<std::string, int> failures_;
  double tokens_;
  std::optional<Clock::TimePoint> tokensAt_;  // when tokens_ was last brought up to date
};

}  // namespace agentproxy::runtime
