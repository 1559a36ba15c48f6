// Runs the policies' probes off the reconcile workers, a bounded number at a time, so a slow
// proxy never holds up the reconciling of other policies.
//
// Guarantees: at most one probe per key runs at once; at most `concurrency` run in total;
// onDone(key) is called after each probe's result is stored (the controller requeues the key
// from there); the destructor waits for running probes (each bounded by its own timeout) and
// drops queued ones.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "probe/prober.h"

namespace agentproxy::controller {

class ProbeScheduler {
 public:
  using Clock = std::chrono::steady_clock;
  using ProbeFn = std::function<probe::ProbeReport(const probe::ProbeRequest&)>;

  struct Result {
    std::string fingerprint;  // of the request that produced it
    probe::ProbeReport report;
    Clock::time_point finishedAt;
  };

  ProbeScheduler(ProbeFn probe, size_t concurrency, std::function<void(const std::string&)> onDone);
  ~ProbeScheduler();
  ProbeScheduler(const ProbeScheduler&) = delete;
  ProbeScheduler& operator=(const ProbeScheduler&) = delete;

  // Queues a probe of `key` unless one is queued or running; a queued one takes the newer
  // request.
  void request(const std::string& key, const std::string& fingerprint,
               probe::ProbeRequest probeRequest);
  std::optional<Result> latest(const std::string& key) const;
  bool pending(const std::string& key) const;
  // The policy is gone: drop its result and any queued probe.
  void forget(const std::string& key);

 private:
  struct Job {
    std::string fingerprint;
    probe::ProbeRequest request;
  };
  void run();

  ProbeFn probe_;
  std::function<void(const std::string&)> onDone_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> order_;
  std::map<std::string, Job> queued_;
  std::map<std::string, bool> running_;
  std::map<std::string, Result> results_;
  std::set<std::string> forgotten_;  // forgotten while their probe ran: drop its result
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace agentproxy::controller
