#include "runtime/lease_store.h"

namespace agentproxy::runtime {

LeaseResult InMemoryLeaseStore::get() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!lease_) return {LeaseStatus::NotFound, {}, {}};
  return {LeaseStatus::Ok, *lease_, {}};
}

LeaseResult InMemoryLeaseStore::create(const LeaseRecord& record) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (lease_) return {LeaseStatus::Conflict, {}, {}};
  lease_ = StoredLease{record, std::to_string(++lastVersion_)};
  return {LeaseStatus::Ok, *lease_, {}};
}

LeaseResult InMemoryLeaseStore::update(const StoredLease& lease) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!lease_) return {LeaseStatus::NotFound, {}, {}};
  if (lease.resourceVersion != lease_->resourceVersion) return {LeaseStatus::Conflict, {}, {}};
  lease_ = StoredLease{lease.record, std::to_string(++lastVersion_)};
  return {LeaseStatus::Ok, *lease_, {}};
}

}  // namespace agentproxy::runtime
