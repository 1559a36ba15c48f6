// Reconcile of one ProxyPolicy: level-based and idempotent. It reads the policy and what it
// refers to, has the probe scheduler probe when the last probe is missing, stale (interval
// passed) or describes another spec, and writes status only when it differs from what is
// stored, with an Event when the classification changes.
//
// Guarantees: a missing Secret or ConfigMap is SpecValid=False with a reason and a slow
// re-check, never an error storm; a reconcile that learns nothing new writes nothing.
// Assumptions: called for one key at a time (the work queue guarantees it).
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "controller/policy_status.h"
#include "controller/probe_scheduler.h"
#include "controller/references.h"
#include "policy/no_proxy.h"

namespace agentproxy::controller {

class StatusWriter {
 public:
  virtual ~StatusWriter() = default;
  // Replaces the policy's status through the status subresource.
  virtual void writeStatus(const nlohmann::json& policy, const nlohmann::json& status) = 0;
  virtual void recordEvent(const nlohmann::json& policy, bool warning, const std::string& reason,
                           const std::string& message) = 0;
};

struct ReconcileResult {
  std::optional<std::chrono::milliseconds> requeueAfter;  // a planned re-check
  bool wroteStatus = false;
};

class Reconciler {
 public:
  using WallClock = std::function<std::string()>;  // now, RFC 3339

  // How long a policy whose references are missing waits before looking again (a Secret
  // created later fixes it without touching the policy).
  static constexpr std::chrono::seconds kReferenceRecheck{30};

  Reconciler(ObjectReader& reader, StatusWriter& writer, ProbeScheduler& scheduler,
             policy::ClusterNetwork cluster, WallClock now);

  // Throws only for failures worth a rate-limited retry (the API server).
  ReconcileResult reconcile(const nlohmann::json& policy);

  // The probe interval of `name`, stretched by up to 10% by a stable per-policy amount so
  // that policies created together do not probe in lockstep.
  static std::chrono::milliseconds jittered(std::chrono::milliseconds interval,
                                            const std::string& name);

 private:
  ReconcileResult publish(const nlohmann::json& policy, const PolicyObservation& seen);

  ObjectReader& reader_;
  StatusWriter& writer_;
  ProbeScheduler& scheduler_;
  policy::ClusterNetwork cluster_;
  WallClock now_;
};

}  // namespace agentproxy::controller
