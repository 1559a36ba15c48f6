#include "controller/cluster_access.h"

#include <algorithm>

#include "encoding/encoding.h"
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
  const std::string key = ns + "/" + name;
  uint64_t forgets = 0;
  {
    std::lock_guard lock(mutex_);
    if (auto it = configMaps_.find(key); it != configMaps_.end()) return it->second;
    forgets = forgets_;
  }
  auto object = getOrNothing(client_, kube::resources::configMaps(), ns, name);
  std::lock_guard lock(mutex_);
  if (forgets == forgets_ && configMaps_.emplace(key, object).second) {
    remembered_.push_back(key);
    if (remembered_.size() > kMaxConfigMaps) {
      configMaps_.erase(remembered_.front());
      remembered_.pop_front();
    }
  }
  return object;
}

void ClientObjectReader::forgetConfigMap(const std::string& ns, const std::string& name) {
  const std::string key = ns + "/" + name;
  std::lock_guard lock(mutex_);
  ++forgets_;
  if (configMaps_.erase(key) > 0) {
    remembered_.erase(std::find(remembered_.begin(), remembered_.end(), key));
  }
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

void ClientInjectionWriter::writeCopy(const nlohmann::json& policy, const CopyObject& copy) {
  const bool secret = copy.ref.kind == "Secret";
  const auto type = secret ? kube::resources::secrets() : kube::resources::configMaps();
  const auto policyName = policy.value("/metadata/name"_json_pointer, std::string());
  nlohmann::json data = nlohmann::json::object();
  for (const auto& [key, value] : copy.data) {
    data[key] = secret ? encoding::base64Encode(value) : value;
  }
  nlohmann::json metadata = {
      {"name", copy.ref.name},
      {"namespace", copy.ref.namespace_},
      {"labels", {{kManagedByLabel, kManagedByValue}}},
      {"annotations",
       {{kCopyOfAnnotation, policyName}, {kContentHashAnnotation, copy.contentHash}}},
      // A cluster-scoped owner: the garbage collector removes the copies with the policy.
      {"ownerReferences",
       {{{"apiVersion", kube::resources::proxyPolicies().apiVersion()},
         {"kind", "ProxyPolicy"},
         {"name", policyName},
         {"uid", policy.value("/metadata/uid"_json_pointer, std::string())}}}}};
  nlohmann::json object = {{"metadata", metadata}, {"data", data}};
  if (secret) object["type"] = "Opaque";
  if (!secret && !copy.binaryData.empty()) {
    nlohmann::json binary = nlohmann::json::object();
    for (const auto& [key, value] : copy.binaryData) binary[key] = encoding::base64Encode(value);
    object["binaryData"] = binary;
  }
  try {
    client_.create(type, copy.ref.namespace_, object);
  } catch (const kube::AlreadyExistsError&) {
    // Only an object of ours is updated: one someone else made under this name is left alone.
    // Judged from the informers' metadata, as the operator may not read Secrets outside its
    // namespace.
    auto existing = cached_ ? cached_(copy.ref) : std::nullopt;
    if (!existing) {
      throw std::runtime_error(copy.ref.kind + " " + copy.ref.namespace_ + "/" + copy.ref.name +
                               " exists but the operator has not seen it yet; looking again");
    }
    auto labels = existing->value("/metadata/labels"_json_pointer, nlohmann::json::object());
    if (!labels.is_object() ||
        labels.value(std::string(kManagedByLabel), "") != kManagedByValue) {
      throw CopyConflict(copy.ref);
    }
    // Guarded by the version read: an object replaced meanwhile is a conflict, retried.
    object["metadata"]["resourceVersion"] =
        existing->value("/metadata/resourceVersion"_json_pointer, std::string());
    client_.patch(type, copy.ref.namespace_, copy.ref.name, kube::PatchType::kMerge, object);
  }
}

void ClientInjectionWriter::deleteCopy(const ObjectRef& copy) {
  const auto type =
      copy.kind == "Secret" ? kube::resources::secrets() : kube::resources::configMaps();
  try {
    client_.remove(type, copy.namespace_, copy.name);
  } catch (const kube::NotFoundError&) {
  }
}

std::optional<ObjectRef> ClientInjectionWriter::restartWorkload(const ObjectRef& owner,
                                                                const std::string& hash,
                                                                const std::string& now) {
  ObjectRef workload = owner;
  if (owner.kind == "ReplicaSet") {
    auto replicaSet =
        getOrNothing(client_, kube::resources::replicaSets(), owner.namespace_, owner.name);
    if (!replicaSet) return std::nullopt;
    workload.kind.clear();
    for (const auto& ref :
         replicaSet->value("/metadata/ownerReferences"_json_pointer, nlohmann::json::array())) {
      if (ref.value("controller", false) && ref.value("kind", "") == "Deployment") {
        workload = {"Deployment", owner.namespace_, ref.value("name", "")};
      }
    }
  }
  kube::ResourceType type;
  if (workload.kind == "Deployment") {
    type = kube::resources::deployments();
  } else if (workload.kind == "StatefulSet") {
    type = kube::resources::statefulSets();
  } else if (workload.kind == "DaemonSet") {
    type = kube::resources::daemonSets();
  } else {
    return std::nullopt;  // a bare ReplicaSet, a Job...: nothing to roll
  }
  auto object = getOrNothing(client_, type, workload.namespace_, workload.name);
  if (!object) return std::nullopt;
  auto annotations =
      object->value("/spec/template/metadata/annotations"_json_pointer, nlohmann::json::object());
  if (annotations.is_object() && annotations.value(kRestartedForAnnotation, "") == hash) {
    return std::nullopt;
  }
  client_.patch(type, workload.namespace_, workload.name, kube::PatchType::kMerge,
                {{"spec",
                  {{"template",
                    {{"metadata",
                      {{"annotations",
                        {{kRestartedAtAnnotation, now}, {kRestartedForAnnotation, hash}}}}}}}}}});
  return workload;
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
  kube::Lease lease{ns_,
                    name_,
                    "",
                    record.holderIdentity,
                    record.leaseDurationSeconds,
                    record.acquireTime,
                    record.renewTime,
                    record.leaseTransitions};
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
  kube::Lease lease{
      ns_,           name_,       stored.resourceVersion, r.holderIdentity, r.leaseDurationSeconds,
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
