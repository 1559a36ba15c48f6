// Exponential backoff: the one policy of every retry loop (the work queue's per-key delay in
// RateLimiter, the kube client's request retries and watch reconnects, the informers' relists).
//
// Guarantees: the n-th consecutive failure (n from 0) waits min(initial * 2^n, max), however
// long the failures go on (no overflow: it saturates at max); Backoff::reset() starts over at
// `initial`. Pure: no clock and no sleeping (the caller waits, stop-aware:
// stop_aware_sleep.h). Assumes 0 < initial <= max; a Backoff belongs to one loop (not
// thread-safe).
#pragma once

#include <chrono>

namespace agentproxy::runtime {

struct BackoffPolicy {
  std::chrono::steady_clock::duration initial;
  std::chrono::steady_clock::duration max;

  // The wait after the failure that follows `failures` consecutive earlier ones.
  std::chrono::steady_clock::duration delay(int failures) const;
};

// A retry loop's place in its BackoffPolicy.
class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy) : policy_(policy) {}

  // The wait for this failure; the next one waits twice as long, up to max.
  std::chrono::steady_clock::duration next() { return policy_.delay(failures_++); }
  // After a success: the next failure waits `initial` again.
  void reset() { failures_ = 0; }

 private:
  BackoffPolicy policy_;
  int failures_ = 0;
};

}  // namespace agentproxy::runtime
