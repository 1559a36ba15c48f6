// coordination.k8s.io/v1 Leases, for leader election.
//
// Guarantees: updateLease() is a PUT carrying the resourceVersion that was read, so two
// candidates cannot both win: the second gets ConflictError. getLease() returns nullopt for
// a missing Lease instead of throwing. Times are metav1.MicroTime (microseconds, UTC).
// Assumptions: the election logic (when to renew, when a lease has expired) is the caller's.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace agentproxy::kube {

class Client;

struct Lease {
  std::string ns;
  std::string name;
  std::string resourceVersion;  // from the server; required by updateLease
  std::string holderIdentity;
  int leaseDurationSeconds = 0;
  std::optional<std::chrono::system_clock::time_point> acquireTime;
  std::optional<std::chrono::system_clock::time_point> renewTime;
  int leaseTransitions = 0;
};

nlohmann::json leaseToJson(const Lease& lease);
// Throws KubeError when the JSON is not a Lease.
Lease leaseFromJson(const nlohmann::json& object);

std::optional<Lease> getLease(Client& client, const std::string& ns, const std::string& name);
// AlreadyExistsError when another candidate created it first.
Lease createLease(Client& client, const Lease& lease);
// ConflictError when the Lease changed since `lease.resourceVersion` was read.
Lease updateLease(Client& client, const Lease& lease);

}  // namespace agentproxy::kube
