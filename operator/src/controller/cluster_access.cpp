#include "controller/cluster_access.h"

#include "kube/client.h"
#include "kube/event_recorder.h"
#include "kube/lease.h"

namespace agentproxy::controller {
namespace {

std::optional<nlohmann::json> getOrNothing(kube::Client& client, const kube::ResourceType& type,
                                           const std::string& ns, const std::string& name) {
  try {
    return client.get(type, ns, name);
  } catch (const kube::NotFoundError&) {
    return std::nullopt;
  }
}

// A merge patch turning `from` into `to`: changed and new keys as in `to`, removed keys null.
nlohmann::json mergePatch(const nlohmann::json& from, const nlohmann::json& to) {
  if (!from.is_object() || !to.is_object()) return to;
  nlohmann::json patch = nlohmann::json::object();
  for (const auto& [key, value] : from.items()) {
    if (!to.contains(key)) patch[key] = nullptr;
  }
  for (const auto& [key, value] : to.items()) {
    auto old = from.find(key);
    if (old == from.end()) {
      patch[key] = value;
    } else if (*old != value) {
      patch[key] = old->is_object() && value.is_object() ? mergePatch(*old, value) : value;
    }
  }
  return patch;
}

runtime::StoredLease toStored(const kube::Lease& lease) {
  return {{lease.holderIdentity, lease.leaseDurationSeconds, lease.acquireTime, lease.renewTime,
           lease.leaseTransitions},
          lease.resourceVersion};
}

runtime::LeaseResult failure(const std::exception& e) {
  return {runtime::LeaseStatus::Error, {}, e.what()};
}

}  // namespace

std::optional<nlohmann::json> ClientObjectReader::secret(const std::string& ns,
                                                         const std::string& name) {
  return getOrNothing(client_, kube::resources::secrets(), ns, name);
}

std::optional<nlohmann::json> ClientObjectReader::configMap(const std::string& ns,
                                                            const std::string& name) {
  return getOrNothing(client_, kube::resources::configMaps(), ns, name);
}

void ClientStatusWriter::writeStatus(const nlohmann::json& policy, const nlohmann::json& status) {
  auto current = policy.value("status", nlohmann::json::object());
  client_.patchStatus(kube::resources::proxyPolicies(), "",
                      policy.value("/metadata/name"_json_pointer, std::string()),
                      kube::PatchType::kMerge, {{"status", mergePatch(current, status)}});
}

void ClientStatusWriter::recordEvent(const nlohmann::json& policy, bool warning,
                                     const std::string& reason, const std::string& message) {
  events_.record(policy, warning ? kube::EventType::kWarning : kube::EventType::kNormal, reason,
                 message);
}

runtime::LeaseResult ClientLeaseStore::get() {
  try {
    auto lease = kube::getLease(client_, ns_, name_);
    if (!lease) return {runtime::LeaseStatus::NotFound, {}, {}};
    return {runtime::LeaseStatus::Ok, toStored(*lease), {}};
  } catch (const std::exception& e) {
    return failure(e);
  }
}

runtime::LeaseResult ClientLeaseStore::create(const runtime::LeaseRecord& record) {
  kube::Lease lease{ns_, name_, "", record.holderIdentity, record.leaseDurationSeconds,
                    record.acquireTime, record.renewTime, record.leaseTransitions};
  try {
    return {runtime::LeaseStatus::Ok, toStored(kube::createLease(client_, lease)), {}};
  } catch (const kube::AlreadyExistsError&) {
    return {runtime::LeaseStatus::Conflict, {}, {}};
  } catch (const std::exception& e) {
    return failure(e);
  }
}

runtime::LeaseResult ClientLeaseStore::update(const runtime::StoredLease& stored) {
  const auto& r = stored.record;
  kube::Lease lease{ns_, name_, stored.resourceVersion, r.holderIdentity, r.leaseDurationSeconds,
                    r.acquireTime, r.renewTime, r.leaseTransitions};
  try {
    return {runtime::LeaseStatus::Ok, toStored(kube::updateLease(client_, lease)), {}};
  } catch (const kube::ConflictError&) {
    return {runtime::LeaseStatus::Conflict, {}, {}};
  } catch (const kube::NotFoundError&) {
    return {runtime::LeaseStatus::NotFound, {}, {}};
  } catch (const std::exception& e) {
    return failure(e);
  }
}

}  // namespace agentproxy::controller
