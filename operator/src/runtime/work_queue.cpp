#include "runtime/work_queue.h"

namespace agentproxy::runtime {

WorkQueue::WorkQueue(Clock& clock, RateLimiterConfig rateLimits)
    : clock_(clock), rateLimiter_(rateLimits) {}

void WorkQueue::add(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  addLocked(key);
}

void WorkQueue::addAfter(const std::string& key, Clock::Duration delay) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (shuttingDown_) return;
  if (delay <= Clock::Duration::zero()) {
    addLocked(key);
    return;
  }
  const Clock::TimePoint readyAt = clock_.now() + delay;
  const auto [it, inserted] = waitingByKey_.try_emplace(key, readyAt);
  if (!inserted) {
    if (it->second <= readyAt) return;
    waitingByTime_.erase({it->second, key});
    it->second = readyAt;
  }
  waitingByTime_.emplace(readyAt, key);
  changed_.notify_all();  // a worker may be waiting for a later deadline
}

void WorkQueue::addRateLimited(const std::string& key) {
  Clock::Duration delay;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (shuttingDown_) return;
    delay = rateLimiter_.when(key, clock_.now());
  }
  addAfter(key, delay);
}

void WorkQueue::forget(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  rateLimiter_.forget(key);
}

int WorkQueue::numRequeues(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return rateLimiter_.numRequeues(key);
}

std::optional<std::string> WorkQueue::get() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    const std::optional<Clock::TimePoint> nextDeadline = promoteDueLocked();
    if (!queue_.empty()) break;
    if (shuttingDown_) return std::nullopt;
    if (nextDeadline) {
      clock_.waitUntil(lock, changed_, *nextDeadline);
    } else {
      changed_.wait(lock);
    }
  }
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  dirty_.erase(key);
  processing_.insert(key);
  return key;
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  processing_.erase(key);
  if (dirty_.count(key) != 0) queue_.push_back(key);
  // Wakes a worker for the re-queued key, or shutDownWithDrain() waiting for the last done().
  changed_.notify_all();
}

std::size_t WorkQueue::len() {
  std::lock_guard<std::mutex> lock(mutex_);
  promoteDueLocked();
  return queue_.size();
}

void WorkQueue::shutDown() {
  std::lock_guard<std::mutex> lock(mutex_);
  shutDownLocked();
}

void WorkQueue::shutDownWithDrain() {
  std::unique_lock<std::mutex> lock(mutex_);
  shutDownLocked();
  changed_.wait(lock, [this] { return processing_.empty(); });
}

bool WorkQueue::shuttingDown() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return shuttingDown_;
}

void WorkQueue::addLocked(const std::string& key) {
  if (shuttingDown_) return;
  if (!dirty_.insert(key).second) return;
  if (processing_.count(key) != 0) return;  // done() queues it
  queue_.push_back(key);
  changed_.notify_all();
}

std::optional<Clock::TimePoint> WorkQueue::promoteDueLocked() {
  const Clock::TimePoint now = clock_.now();
  while (!waitingByTime_.empty()) {
    const auto first = waitingByTime_.begin();
    if (first->first > now) return first->first;
    const std::string key = first->second;
    waitingByTime_.erase(first);
    waitingByKey_.erase(key);
    addLocked(key);
  }
  return std::nullopt;
}

void WorkQueue::shutDownLocked() {
  shuttingDown_ = true;
  waitingByKey_.clear();
  waitingByTime_.clear();
  changed_.notify_all();
}

}  // namespace agentproxy::runtime
