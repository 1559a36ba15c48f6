// Leader election over a Lease, with client-go's leaderelection semantics, so that of several
// operator replicas exactly one reconciles at a time and another takes over when it dies.
//
// Guarantees:
// - A candidate takes the lease only when it is absent, released (no holder), already its own,
//   or expired: not renewed for the holder's leaseDurationSeconds as measured on this
//   candidate's own clock from when it first saw the current record (as client-go does, so
//   clock skew between replicas does not matter).
// - Writes use the lease's resourceVersion, so two candidates cannot both win a round; the
//   loser of a conflict simply tries again next retry period.
// - The leader renews every retryPeriod and gives up leadership (onStoppedLeading) as soon as it
//   sees another holder, or when renewals have failed for renewDeadline, which is shorter than
//   leaseDuration, so it stops leading before anyone else may take over.
// - stop() while leading releases the lease (holder cleared, leaseDurationSeconds 1, client-go's
//   ReleaseOnCancel) unless releaseOnCancel is false, so another replica takes over at its next
//   retry instead of waiting for expiry.
// - leaseTransitions counts changes of holder.
// Assumptions: callbacks run on the thread that calls run() (or tryAcquireOrRenew()) and
// return promptly; onStartedLeading starts the controllers, it does not run them.
// Deviation from client-go: retries are not jittered.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

#include "runtime/clock.h"
#include "runtime/lease_store.h"

namespace agentproxy::runtime {

struct LeaderElectionConfig {
  std::string identity;  // unique per replica, usually the pod name
  Clock::Duration leaseDuration = std::chrono::seconds(15);
  Clock::Duration renewDeadline = std::chrono::seconds(10);
  Clock::Duration retryPeriod = std::chrono::seconds(2);
  bool releaseOnCancel = true;
};

// Any of these may be empty.
struct LeaderCallbacks {
  std::function<void()> onStartedLeading;
  // Called once when run() stops leading (lost or stopped), never if it did not lead.
  std::function<void()> onStoppedLeading;
  // A new holder was observed (this replica included); not called for a released lease.
  std::function<void(const std::string& identity)> onNewLeader;
};

class LeaderElector {
 public:
  // Throws std::invalid_argument unless the identity is set and
  // leaseDuration > renewDeadline > retryPeriod > 0, with leaseDuration in whole seconds.
  LeaderElector(LeaseStore& store, LeaderElectionConfig config, LeaderCallbacks callbacks,
                Clock& clock = systemClock());

  // Campaigns until this replica leads, then leads until the lease is lost or stop() is called;
  // returns then. Called once per elector.
  void run();
  // Makes run() return promptly, releasing the lease if it leads. Thread-safe.
  void stop();

  // One round of the campaign or of the renewal; true when this replica holds the lease after
  // it. run() is made of these; exposed so that a caller can drive rounds itself.
  bool tryAcquireOrRenew();
  // Clears the holder if this replica holds the lease; true when it no longer does.
  bool release();

  bool isLeader() const;
  // The holder last observed, empty when none.
  std::string leader() const;

 private:
  enum class Round { Holding, HeldByOther, Failed };

  Round attempt();
  void observe(const StoredLease& lease);
  void reportLeader();
  // Waits `period` on the clock; false when stop() was called.
  bool waitUnlessStopped(Clock::Duration period);
  bool stopRequested() const;

  LeaseStore& store_;
  const LeaderElectionConfig config_;
  const LeaderCallbacks callbacks_;
  Clock& clock_;

  mutable std::mutex mutex_;
  std::condition_variable stopChanged_;
  bool stopRequested_ = false;
  bool leading_ = false;
  StoredLease observed_;
  Clock::TimePoint observedTime_{};  // when observed_.record last changed, on clock_
  std::string reportedLeader_;
};

}  // namespace agentproxy::runtime
