// The status a ProxyPolicy should have, computed from what reconcile observed: the probe
// report, spec validity, NO_PROXY and warnings. Pure: the reconciler writes the result only
// when it differs from what is stored.
//
// Guarantees: conditions follow meta.SetStatusCondition (lastTransitionTime moves only with
// status); every condition and status.observedGeneration carry the observed generation;
// fields this computation does not own (injectedPods, caBundleHash) are carried over.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "probe/report.h"

namespace agentproxy::controller {

struct PolicyObservation {
  int64_t generation = 0;
  bool specValid = true;
  std::string specReason = "Valid";  // CamelCase: InvalidSpec, SecretNotFound, InvalidPEM...
  std::string specMessage;
  std::optional<probe::ProbeReport> probe;  // the latest probe; absent while the spec is invalid
  std::string effectiveNoProxy;
  std::vector<std::string> warnings;
};

nlohmann::json desiredStatus(const nlohmann::json& currentStatus, const PolicyObservation& seen,
                             const std::string& now);

// The classification a status reports, "Unknown" when it has none.
std::string classificationOf(const nlohmann::json& status);

}  // namespace agentproxy::controller
