// Where leader election keeps its coordination.k8s.io/v1 Lease: an interface the Kubernetes
// client implements against the API server, and an in-memory implementation with the same
// optimistic-concurrency behaviour for tests and single-process use.
//
// Guarantees (of every implementation): update() succeeds only when the lease's
// resourceVersion is the one currently stored, and every successful write returns a new
// resourceVersion, so two candidates that read the same lease cannot both write it; create()
// of a lease that exists is a Conflict (the API server's AlreadyExists). Failures are results,
// never exceptions: the elector retries them.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace agentproxy::runtime {

// The Lease's spec, as leader election reads and writes it. Times are the writer's calendar
// time (metav1.MicroTime).
struct LeaseRecord {
  std::string holderIdentity;  // empty: nobody holds it (released)
  int leaseDurationSeconds = 0;
  std::optional<std::chrono::system_clock::time_point> acquireTime;
  std::optional<std::chrono::system_clock::time_point> renewTime;
  int leaseTransitions = 0;

  bool operator==(const LeaseRecord&) const = default;
};

struct StoredLease {
  LeaseRecord record;
  std::string resourceVersion;
};

enum class LeaseStatus { Ok, NotFound, Conflict, Error };

struct LeaseResult {
  LeaseStatus status = LeaseStatus::Error;
  StoredLease lease;  // the lease as stored, when status is Ok
  std::string error;  // what went wrong, for the log, when status is Error
};

class LeaseStore {
 public:
  virtual ~LeaseStore() = default;
  // Ok with the lease, NotFound, or Error.
  virtual LeaseResult get() = 0;
  // Ok with the created lease, Conflict when it already exists, or Error.
  virtual LeaseResult create(const LeaseRecord& record) = 0;
  // Ok with the updated lease, Conflict when `lease.resourceVersion` is stale, NotFound, or
  // Error.
  virtual LeaseResult update(const StoredLease& lease) = 0;
};

// Thread-safe; resourceVersions are increasing decimal numbers.
class InMemoryLeaseStore final : public LeaseStore {
 public:
  LeaseResult get() override;
  LeaseResult create(const LeaseRecord& record) override;
  LeaseResult update(const StoredLease& lease) override;

 private:
  std::mutex mutex_;
  std::optional<StoredLease> lease_;
  std::uint64_t lastVersion_ = 0;
};

}  // namespace agentproxy::runtime
