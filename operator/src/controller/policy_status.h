// The status a ProxyPolicy should have, computed from what reconcile observed: the probe
// report, spec validity, NO_PROXY and warnings. Pure: the reconciler writes the result only
// when it differs from what is stored.
//
// Guarantees: conditions follow meta.SetStatusCondition (lastTransitionTime moves only with
// status); every condition and status.observedGeneration carry the observed generation;
// without an injection observation, injectedPods, stalePods and caBundleHash are carried over.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "probe/report.h"

namespace agentproxy::controller {

// What reconcile learned about injection (controller/injection.h's plan, performed).
struct InjectionObservation {
  bool enabled = true;
  bool restartWorkloads = false;
  int namespaces = 0;  // selected
  int selectedPods = 0;
  int injectedPods = 0;
  int stalePods = 0;
  std::string caBundleHash;               // "sha256:...", empty without a CA bundle
  int outvotedPods = 0;                   // matched, but injected by another policy
  std::vector<std::string> copyFailures;  // copies that could not be written or deleted
  // Objects with a copy's name that the operator does not manage (no managed-by label): left
  // alone, each as "Secret ns/name".
  std::vector<std::string> copyConflicts;
  std::vector<std::string> warnings;      // expired CAs, pods another policy wins
};

struct PolicyObservation {
  int64_t generation = 0;
  bool specValid = true;
  std::string specReason = "Valid";  // CamelCase: InvalidSpec, SecretNotFound, InvalidPEM...
  std::string specMessage;
  std::optional<probe::ProbeReport> probe;  // the latest probe; absent while the spec is invalid
  std::string effectiveNoProxy;
  std::vector<std::string> warnings;
  std::optional<InjectionObservation> injection;  // absent while the spec is invalid
};

nlohmann::json desiredStatus(const nlohmann::json& currentStatus, const PolicyObservation& seen,
                             const std::string& now);

// The classification a status reports, "Unknown" when it has none.
std::string classificationOf(const nlohmann::json& status);

}  // namespace agentproxy::controller
