#include "kube/lease.h"

#include "kube/client.h"
#include "kube/timestamps.h"

namespace agentproxy::kube {

nlohmann::json leaseToJson(const Lease& lease) {
  nlohmann::json spec = nlohmann::json::object();
  if (!lease.holderIdentity.empty()) spec["holderIdentity"] = lease.holderIdentity;
  if (lease.leaseDurationSeconds > 0) spec["leaseDurationSeconds"] = lease.leaseDurationSeconds;
  if (lease.acquireTime) spec["acquireTime"] = formatMicroTime(*lease.acquireTime);
  if (lease.renewTime) spec["renewTime"] = formatMicroTime(*lease.renewTime);
  spec["leaseTransitions"] = lease.leaseTransitions;
  nlohmann::json metadata = {{"name", lease.name}, {"namespace", lease.ns}};
  if (!lease.resourceVersion.empty()) metadata["resourceVersion"] = lease.resourceVersion;
  return {{"apiVersion", "coordination.k8s.io/v1"},
          {"kind", "Lease"},
          {"metadata", metadata},
          {"spec", spec}};
}

Lease leaseFromJson(const nlohmann::json& object) {
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) {
    throw KubeError("not a Lease: no metadata");
  }
  const auto& meta = object["metadata"];
  Lease lease;
  lease.name = meta.value("name", "");
  lease.ns = meta.value("namespace", "");
  lease.resourceVersion = meta.value("resourceVersion", "");
  auto spec = object.find("spec");
  if (spec == object.end() || spec->is_null()) return lease;
  if (!spec->is_object()) throw KubeError("Lease " + lease.name + ": spec is not an object");
  auto str = [&](const char* key) {
    auto it = spec->find(key);
    return it != spec->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto num = [&](const char* key) {
    auto it = spec->find(key);
    return it != spec->end() && it->is_number_integer() ? it->get<int>() : 0;
  };
  auto time = [&](const char* key) -> std::optional<std::chrono::system_clock::time_point> {
    std::string text = str(key);
    if (text.empty()) return std::nullopt;
    auto parsed = parseTime(text);
    if (!parsed)
      throw KubeError("Lease " + lease.name + ": spec." + key + " \"" + text +
                      "\" is not a timestamp");
    return parsed;
  };
  lease.holderIdentity = str("holderIdentity");
  lease.leaseDurationSeconds = num("leaseDurationSeconds");
  lease.leaseTransitions = num("leaseTransitions");
  lease.acquireTime = time("acquireTime");
  lease.renewTime = time("renewTime");
  return lease;
}

std::optional<Lease> getLease(Client& client, const std::string& ns, const std::string& name) {
  try {
    return leaseFromJson(client.get(resources::leases(), ns, name));
  } catch (const NotFoundError&) {
    return std::nullopt;
  }
}

Lease createLease(Client& client, const Lease& lease) {
  Lease fresh = lease;
  fresh.resourceVersion.clear();
  return leaseFromJson(client.create(resources::leases(), lease.ns, leaseToJson(fresh)));
}

Lease updateLease(Client& client, const Lease& lease) {
  if (lease.resourceVersion.empty()) {
    throw std::invalid_argument("updateLease needs the resourceVersion that was read");
  }
  return leaseFromJson(
      client.update(resources::leases(), lease.ns, lease.name, leaseToJson(lease)));
}

}  // namespace agentproxy::kube
