// Reconcile of one ProxyPolicy: level-based and idempotent. It reads the policy and what it
// refers to, has the probe scheduler probe when the last probe is missing, stale (interval
// passed) or describes another spec, and writes status only when it differs from what is
// stored, with an Event when the classification changes.
//
// It also keeps the policy's injection in place (controller/injection.h): the copies in each
// selected namespace, the count of pods with the current injection, and, when asked, restarts
// of stale workloads, one at a time and at most one per kRestartSpacing.
//
// Guarantees: a missing Secret or ConfigMap is SpecValid=False with a reason and a slow
// re-check, never an error storm; a reconcile that learns nothing new writes nothing; a
// workload is restarted at most once per injection hash (the hash is recorded on its pod
// template), so neither a new leader nor a retry restarts it again.
// Assumptions: called for one key at a time (the work queue guarantees it).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "controller/injection.h"
#include "controller/policy_status.h"
#include "controller/probe_scheduler.h"
#include "controller/references.h"
#include "runtime/redaction.h"
#include "policy/no_proxy.h"
#include "probe/runtime_verdict.h"

namespace agentproxy::controller {

class StatusWriter {
 public:
  virtual ~StatusWriter() = default;
  // Replaces the policy's status through the status subresource.
  virtual void writeStatus(const nlohmann::json& policy, const nlohmann::json& status) = 0;
  virtual void recordEvent(const nlohmann::json& policy, bool warning, const std::string& reason,
                           const std::string& message) = 0;
};

// Injection's view of the cluster (caches) and its writes (the client).
class InjectionWorld {
 public:
  virtual ~InjectionWorld() = default;
  virtual InjectionInputs inputs(const std::string& policyName) = 0;
  // Creates or updates a copy, labelled, annotated and owned by the policy.
  // Throws CopyConflict when an object of that name exists that the operator does not manage.
  virtual void writeCopy(const nlohmann::json& policy, const CopyObject& copy) = 0;
  virtual void deleteCopy(const ObjectRef& copy) = 0;
  // Restarts the workload controlling `owner` (a ReplicaSet's Deployment, a StatefulSet, a
  // DaemonSet) by annotating its pod template with `hash`, unless the template already carries
  // it. Returns the workload restarted, nullopt when none was (already done, or no restartable
  // workload).
  virtual std::optional<ObjectRef> restartWorkload(const ObjectRef& owner, const std::string& hash,
                                                   const std::string& now) = 0;
  // The operator image's system CAs (PEM).
  virtual const std::string& systemCaPem() = 0;
};

struct ReconcileResult {
  std::optional<std::chrono::milliseconds> requeueAfter;  // a planned re-check
  bool wroteStatus = false;
  std::optional<InjectionObservation> injection;  // for the metrics
};

class Reconciler {
 public:
  using WallClock = std::function<std::string()>;  // now, RFC 3339

  // How long a policy whose references are missing waits before looking again (a Secret
  // created later fixes it without touching the policy).
  static constexpr std::chrono::seconds kReferenceRecheck{30};

  // At most one workload restart per this spacing, across all policies.
  static constexpr std::chrono::seconds kRestartSpacing{10};

  // `sourceNamespaces`: where referenced Secrets and ConfigMaps may live (checkSourceNamespaces).
  // `redactor`: the resolved proxy credentials are registered with it (the logger's), and every
  // status and Event text passes through it before it is written.
  Reconciler(ObjectReader& reader, StatusWriter& writer, ProbeScheduler& scheduler,
             InjectionWorld& injection, policy::ClusterNetwork cluster, WallClock now,
             std::vector<std::string> sourceNamespaces, runtime::Redactor& redactor);

  // Throws only for failures worth a rate-limited retry (the API server).
  ReconcileResult reconcile(const nlohmann::json& policy);

  // The probe interval of `name`, stretched by up to 10% by a stable per-policy amount so
  // that policies created together do not probe in lockstep.
  static std::chrono::milliseconds jittered(std::chrono::milliseconds interval,
                                            const std::string& name);

 private:
  ReconcileResult publish(const nlohmann::json& policy, const PolicyObservation& seen);
  struct MergedBundle {
    std::shared_ptr<const std::string> pem;
    std::shared_ptr<const std::string> truststore;  // PKCS12 of pem; null without certificates
    std::string hash;
    std::vector<std::string> expired;
    std::chrono::system_clock::time_point mergedAt;
  };
  // What the policy gives the agents, for the per-runtime verdicts.
  probe::RuntimeContext runtimeContext(const policy::ProxyPolicy& policy,
                                       const probe::ProxyUrl& proxy) const;
  std::shared_ptr<const MergedBundle> caBundle(
      bool includeSystemCAs, const std::vector<std::pair<std::string, std::string>>& sources);
  // Performs the injection plan; sets `requeue` when workload restarts remain.
  InjectionObservation reconcileInjection(const nlohmann::json& object,
                                          const policy::ProxyPolicy& policy,
                                          const ResolvedPolicy& resolved,
                                          std::optional<std::chrono::milliseconds>& requeue);

  ObjectReader& reader_;
  StatusWriter& writer_;
  ProbeScheduler& scheduler_;
  InjectionWorld& injection_;
  policy::ClusterNetwork cluster_;
  WallClock now_;
  std::vector<std::string> sourceNamespaces_;
  runtime::Redactor& redactor_;
  std::mutex bundleMutex_;
  std::map<std::string, std::shared_ptr<const MergedBundle>> bundles_;
  std::mutex restartMutex_;
  std::chrono::steady_clock::time_point lastRestart_{};
};

}  // namespace agentproxy::controller
