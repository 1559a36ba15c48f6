#include "runtime/rate_limiter.h"

#include <algorithm>
#include <stdexcept>

#include "runtime/backoff.h"

namespace agentproxy::runtime {

RateLimiter::RateLimiter(RateLimiterConfig config)
    : config_(config), tokens_(static_cast<double>(config.burst)) {
  if (config_.baseDelay <= Clock::Duration::zero() || config_.maxDelay < config_.baseDelay) {
    throw std::invalid_argument("rate limiter: need 0 < baseDelay <= maxDelay");
  }
  if (!(config_.qps > 0) || config_.burst <= 0) {
    throw std::invalid_argument("rate limiter: qps and burst must be positive");
  }
}

Clock::Duration RateLimiter::when(const std::string& key, Clock::TimePoint now) {
  const int failures = failures_[key]++;
  return std::max(backoff(failures), reserveToken(now));
}

void RateLimiter::forget(const std::string& key) { failures_.erase(key); }

int RateLimiter::numRequeues(const std::string& key) const {
  const auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

Clock::Duration RateLimiter::backoff(int failures) const {
  return BackoffPolicy{config_.baseDelay, config_.maxDelay}.delay(failures);
}

// golang.org/x/time/rate's Reserve(): the bucket refills at qps up to burst; a reservation
// always takes a token, and when the bucket is in debt the caller waits until it is repaid.
Clock::Duration RateLimiter::reserveToken(Clock::TimePoint now) {
  if (tokensAt_ && now > *tokensAt_) {
    const double elapsed = std::chrono::duration<double>(now - *tokensAt_).count();
    tokens_ = std::min(static_cast<double>(config_.burst), tokens_ + elapsed * config_.qps);
  }
  if (!tokensAt_ || now > *tokensAt_) tokensAt_ = now;
  tokens_ -= 1;
  if (tokens_ >= 0) return Clock::Duration::zero();
  return std::chrono::duration_cast<Clock::Duration>(
      std::chrono::duration<double>(-tokens_ / config_.qps));
}

}  // namespace agentproxy::runtime
