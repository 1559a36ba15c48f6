#include "runtime/leader_elector.h"

#include <stdexcept>
#include <utility>

namespace agentproxy::runtime {

using std::chrono::seconds;

LeaderElector::LeaderElector(LeaseStore& store, LeaderElectionConfig config,
                             LeaderCallbacks callbacks, Clock& clock)
    : store_(store), config_(std::move(config)), callbacks_(std::move(callbacks)), clock_(clock) {
  if (config_.identity.empty()) {
    throw std::invalid_argument("leader election: identity must not be empty");
  }
  if (!(config_.leaseDuration > config_.renewDeadline &&
        config_.renewDeadline > config_.retryPeriod &&
        config_.retryPeriod > Clock::Duration::zero())) {
    throw std::invalid_argument(
        "leader election: need leaseDuration > renewDeadline > retryPeriod > 0");
  }
  if (config_.leaseDuration % seconds(1) != Clock::Duration::zero()) {
    throw std::invalid_argument("leader election: leaseDuration must be whole seconds");
  }
}

void LeaderElector::run() {
  while (!tryAcquireOrRenew()) {
    if (!waitUnlessStopped(config_.retryPeriod)) return;
  }
  if (callbacks_.onStartedLeading) callbacks_.onStartedLeading();

  Clock::TimePoint lastRenewal = clock_.now();
  while (waitUnlessStopped(config_.retryPeriod)) {
    const Round round = attempt();
    reportLeader();
    if (round == Round::Holding) {
      lastRenewal = clock_.now();
    } else if (round == Round::HeldByOther || clock_.now() - lastRenewal >= config_.renewDeadline) {
      break;
    }
  }
  if (stopRequested() && config_.releaseOnCancel) release();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    leading_ = false;
  }
  if (callbacks_.onStoppedLeading) callbacks_.onStoppedLeading();
}

void LeaderElector::stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  stopRequested_ = true;
  stopChanged_.notify_all();
}

bool LeaderElector::tryAcquireOrRenew() {
  const bool holding = attempt() == Round::Holding;
  reportLeader();
  return holding;
}

bool LeaderElector::release() {
  StoredLease released;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (observed_.record.holderIdentity != config_.identity) return true;
    released = observed_;
  }
  const Clock::WallTime now = clock_.wallNow();
  released.record.holderIdentity.clear();
  released.record.leaseDurationSeconds = 1;
  released.record.acquireTime = now;
  released.record.renewTime = now;
  const LeaseResult result = store_.update(released);
  if (result.status != LeaseStatus::Ok) return false;
  observe(result.lease);
  return true;
}

bool LeaderElector::isLeader() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return leading_;
}

std::string LeaderElector::leader() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return observed_.record.holderIdentity;
}

LeaderElector::Round LeaderElector::attempt() {
  const Clock::WallTime wallNow = clock_.wallNow();
  LeaseRecord desired{
      config_.identity,
      static_cast<int>(std::chrono::duration_cast<seconds>(config_.leaseDuration).count()), wallNow,
      wallNow, 0};

  const LeaseResult current = store_.get();
  if (current.status == LeaseStatus::NotFound) {
    const LeaseResult created = store_.create(desired);
    if (created.status != LeaseStatus::Ok) return Round::Failed;
    observe(created.lease);
    return Round::Holding;
  }
  if (current.status != LeaseStatus::Ok) return Round::Failed;

  const LeaseRecord& old = current.lease.record;
  bool expiredForUs;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (old != observed_.record) observedTime_ = clock_.now();
    observed_ = current.lease;
    if (old.holderIdentity != config_.identity) leading_ = false;
    expiredForUs = observedTime_ + seconds(old.leaseDurationSeconds) <= clock_.now();
  }
  if (!old.holderIdentity.empty() && old.holderIdentity != config_.identity && !expiredForUs) {
    return Round::HeldByOther;
  }

  if (old.holderIdentity == config_.identity) {
    desired.acquireTime = old.acquireTime;
    desired.leaseTransitions = old.leaseTransitions;
  } else {
    desired.leaseTransitions = old.leaseTransitions + 1;
  }
  // A Conflict means another candidate wrote first; the next round reads what it wrote.
  const LeaseResult updated = store_.update({desired, current.lease.resourceVersion});
  if (updated.status != LeaseStatus::Ok) return Round::Failed;
  observe(updated.lease);
  return Round::Holding;
}

// Records a lease this elector wrote itself.
void LeaderElector::observe(const StoredLease& lease) {
  std::lock_guard<std::mutex> lock(mutex_);
  observedTime_ = clock_.now();
  observed_ = lease;
  leading_ = lease.record.holderIdentity == config_.identity;
}

void LeaderElector::reportLeader() {
  std::string holder;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (observed_.record.holderIdentity == reportedLeader_) return;
    reportedLeader_ = observed_.record.holderIdentity;
    holder = reportedLeader_;
  }
  if (!holder.empty() && callbacks_.onNewLeader) callbacks_.onNewLeader(holder);
}

bool LeaderElector::waitUnlessStopped(Clock::Duration period) {
  std::unique_lock<std::mutex> lock(mutex_);
  const Clock::TimePoint deadline = clock_.now() + period;
  while (!stopRequested_ && clock_.now() < deadline) {
    clock_.waitUntil(lock, stopChanged_, deadline);
  }
  return !stopRequested_;
}

bool LeaderElector::stopRequested() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stopRequested_;
}

}  // namespace agentproxy::runtime
