#include "controller/probe_scheduler.h"

namespace agentproxy::controller {

ProbeScheduler::ProbeScheduler(ProbeFn probe, size_t concurrency,
                               std::function<void(const std::string&)> onDone)
    : probe_(std::move(probe)), onDone_(std::move(onDone)) {
  for (size_t i = 0; i < std::max<size_t>(1, concurrency); ++i) {
    threads_.emplace_back([this] { run(); });
  }
}

ProbeScheduler::~ProbeScheduler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
}

void ProbeScheduler::request(const std::string& key, const std::string& fingerprint,
                             probe::ProbeRequest probeRequest) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    forgotten_.erase(key);
    bool alreadyQueued = queued_.count(key) > 0;
    queued_[key] = Job{fingerprint, std::move(probeRequest)};
    if (alreadyQueued) return;
    order_.push_back(key);
  }
  wake_.notify_one();
}

std::optional<ProbeScheduler::Result> ProbeScheduler::latest(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto it = results_.find(key);
  if (it == results_.end()) return std::nullopt;
  return it->second;
}

bool ProbeScheduler::pending(const std::string& key) const {
  std::lock_guard lock(mutex_);
  return queued_.count(key) > 0 || running_.count(key) > 0;
}

void ProbeScheduler::forget(const std::string& key) {
  std::lock_guard lock(mutex_);
  queued_.erase(key);
  results_.erase(key);
  if (running_.count(key)) forgotten_.insert(key);
}

void ProbeScheduler::run() {
  for (;;) {
    std::string key;
    Job job;
    {
      std::unique_lock lock(mutex_);
      // A key whose probe is running waits in the queue: one probe per key at a time.
      auto ready = [&] {
        for (auto it = order_.begin(); it != order_.end(); ++it) {
          if (!running_.count(*it)) return it;
        }
        return order_.end();
      };
      wake_.wait(lock, [&] { return stopping_ || ready() != order_.end(); });
      if (stopping_) return;
      auto it = ready();
      key = *it;
      order_.erase(it);
      auto queued = queued_.find(key);
      if (queued == queued_.end()) continue;  // forgotten while queued
      job = std::move(queued->second);
      queued_.erase(queued);
      running_[key] = true;
    }
    auto report = probe_(job.request);
    bool keep;
    {
      std::lock_guard lock(mutex_);
      running_.erase(key);
      keep = !stopping_ && forgotten_.erase(key) == 0;
      if (keep) results_[key] = Result{job.fingerprint, std::move(report), Clock::now()};
    }
    wake_.notify_all();
    if (keep) onDone_(key);
  }
}

}  // namespace agentproxy::controller
