// The controller's queue of object keys to reconcile, with client-go's workqueue semantics
// (rate-limiting, delaying, deduplicating).
//
// Guarantees:
// - A key is queued at most once: add() of a key already queued does nothing.
// - A key is handed to at most one worker at a time: add() of a key that a worker holds (between
//   get() and done()) queues it once more when done() is called, so no change is lost and no
//   two workers reconcile the same object concurrently.
// - addAfter() queues the key once `delay` has passed; when the key is already waiting, the
//   earlier deadline wins.
// - addRateLimited() is addAfter() with RateLimiter's delay (per-key exponential backoff, at
//   least the overall token bucket's wait); forget() resets the key's backoff.
// - shutDown(): later adds are ignored and keys still waiting for a delay are dropped; keys
//   already queued are still handed out, and get() returns nullopt once the queue is empty.
//   shutDownWithDrain() also waits until every key handed out has been done().
// Thread-safe. Delays are measured on the injected Clock.
// Assumptions: workers are joined (after shutDown()) before the queue is destroyed.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <utility>

#include "runtime/clock.h"
#include "runtime/rate_limiter.h"

namespace agentproxy::runtime {

class WorkQueue {
 public:
  explicit WorkQueue(Clock& clock = systemClock(), RateLimiterConfig rateLimits = {});

  void add(const std::string& key);
  void addAfter(const std::string& key, Clock::Duration delay);
  void addRateLimited(const std::string& key);
  void forget(const std::string& key);
  int numRequeues(const std::string& key) const;

  // Blocks until a key is ready (it is then the caller's until done()) or until the queue is
  // shut down and empty (nullopt).
  std::optional<std::string> get();
  void done(const std::string& key);

  // Keys ready for a worker, not counting those waiting for a delay or being processed.
  std::size_t len();

  void shutDown();
  void shutDownWithDrain();
  bool shuttingDown() const;

 private:
  void addLocked(const std::string& key);
  // Moves keys whose delay has passed into the queue; returns the next deadline, if any.
  std::optional<Clock::TimePoint> promoteDueLocked();
  void shutDownLocked();

  Clock& clock_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  RateLimiter rateLimiter_;
  std::deque<std::string> queue_;
  std::unordered_set<std::string> dirty_;       // needs processing: queued, or re-added while held
  std::unordered_set<std::string> processing_;  // handed out by get(), not yet done()
  std::map<std::string, Clock::TimePoint> waitingByKey_;
  std::set<std::pair<Clock::TimePoint, std::string>> waitingByTime_;
  bool shuttingDown_ = false;
};

}  // namespace agentproxy::runtime
