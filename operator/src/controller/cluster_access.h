// The controller's reads and writes over the Kubernetes client: the production side of
// ObjectReader, StatusWriter and runtime::LeaseStore.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "controller/injection.h"
#include "controller/reconciler.h"
#include "controller/references.h"
#include "runtime/lease_store.h"

namespace agentproxy::kube {
class Client;
class EventRecorder;
}  // namespace agentproxy::kube

namespace agentproxy::controller {

// Secrets are read from the API server every time (their data is never kept). ConfigMaps are
// remembered once read (found or not), until forgetConfigMap() says that one changed: every
// reconcile of every policy reads the CA ConfigMaps it names, and many policies share one.
// Guarantees: a read that started before a forgetConfigMap() is not remembered, so a change
// reported while it was in flight is not masked by the older copy. At most kMaxConfigMaps are
// remembered (the oldest go first).
class ClientObjectReader : public ObjectReader {
 public:
  explicit ClientObjectReader(kube::Client& client) : client_(client) {}
  std::optional<nlohmann::json> secret(const std::string& ns, const std::string& name) override;
  std::optional<nlohmann::json> configMap(const std::string& ns, const std::string& name) override;
  // The ConfigMap ns/name changed or is gone (from the ConfigMap informer's events).
  void forgetConfigMap(const std::string& ns, const std::string& name);

  static constexpr size_t kMaxConfigMaps = 32;

 private:
  kube::Client& client_;
  std::mutex mutex_;
  std::map<std::string, std::optional<nlohmann::json>> configMaps_;  // "ns/name"
  std::deque<std::string> remembered_;                               // oldest first
  uint64_t forgets_ = 0;
};

// Writes status with a JSON merge patch of the status subresource: what the desired status
// no longer has is sent as null, so it is removed.
class ClientStatusWriter : public StatusWriter {
 public:
  ClientStatusWriter(kube::Client& client, kube::EventRecorder& events)
      : client_(client), events_(events) {}
  void writeStatus(const nlohmann::json& policy, const nlohmann::json& status) override;
  void recordEvent(const nlohmann::json& policy, bool warning, const std::string& reason,
                   const std::string& message) override;

 private:
  kube::Client& client_;
  kube::EventRecorder& events_;
};

// Injection's writes: copies in the selected namespaces and workload restarts.
class ClientInjectionWriter {
 public:
  // `cached`: the informers' metadata of a Secret or ConfigMap, nullopt when not seen.
  using CachedMetadata = std::function<std::optional<nlohmann::json>(const ObjectRef&)>;
  ClientInjectionWriter(kube::Client& client, CachedMetadata cached)
      : client_(client), cached_(std::move(cached)) {}
  // Create, or merge-patch when it exists and carries the managed-by label of ours; an object of
  // that name without it is someone else's: CopyConflict, and it is left alone.
  void writeCopy(const nlohmann::json& policy, const CopyObject& copy);
  // Gone already is fine.
  void deleteCopy(const ObjectRef& copy);
  std::optional<ObjectRef> restartWorkload(const ObjectRef& owner, const std::string& hash,
                                           const std::string& now);

 private:
  kube::Client& client_;
  CachedMetadata cached_;
};

// A coordination.k8s.io/v1 Lease as the leader elector's store.
class ClientLeaseStore : public runtime::LeaseStore {
 public:
  ClientLeaseStore(kube::Client& client, std::string ns, std::string name)
      : client_(client), ns_(std::move(ns)), name_(std::move(name)) {}
  runtime::LeaseResult get() override;
  runtime::LeaseResult create(const runtime::LeaseRecord& record) override;
  runtime::LeaseResult update(const runtime::StoredLease& lease) override;

 private:
  kube::Client& client_;
  std::string ns_;
  std::string name_;
};

}  // namespace agentproxy::controller
