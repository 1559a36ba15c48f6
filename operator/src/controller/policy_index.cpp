#include "controller/policy_index.h"

namespace agentproxy::controller {

PolicyIndex::PolicyIndex(policy::ClusterNetwork cluster, std::string operatorNamespace)
    : cluster_(std::move(cluster)), operatorNamespace_(std::move(operatorNamespace)) {}

void PolicyIndex::upsert(const std::string& key, const nlohmann::json& object) {
  // object[outer][inner], or a null.
  auto field = [&object](const char* outer, const char* inner) {
    auto o = object.find(outer);
    if (o == object.end() || !o->is_object()) return nlohmann::json();
    auto i = o->find(inner);
    return i != o->end() ? *i : nlohmann::json();
  };
  auto uid = field("metadata", "uid");
  auto generation = field("metadata", "generation");
  auto hash = field("status", "caBundleHash");
  std::lock_guard lock(mutex_);
  auto it = parsed_.find(key);
  bool sameSpec = it != parsed_.end() && uid.is_string() && generation.is_number_integer() &&
                  it->second.uid == uid.get<std::string>() &&
                  it->second.generation == generation.get<int64_t>();
  if (!sameSpec) {
    try {
      parsed_[key] = policy::parseProxyPolicy(object);
    } catch (const policy::SpecError&) {
      parsed_.erase(key);  // reconcile reports it; the webhook ignores it
    }
    snapshot_.reset();
    admissionStale_ = true;
  }
  auto text = hash.is_string() ? hash.get<std::string>() : std::string();
  if (auto& stored = caBundleHashes_[key]; stored != text) {
    stored = std::move(text);
    admissionStale_ = true;
  }
}

void PolicyIndex::erase(const std::string& key) {
  std::lock_guard lock(mutex_);
  parsed_.erase(key);
  caBundleHashes_.erase(key);
  snapshot_.reset();
  admissionStale_ = true;
}

PolicySnapshot PolicyIndex::snapshot() {
  std::lock_guard lock(mutex_);
  return snapshotLocked();
}

PolicySnapshot PolicyIndex::snapshotLocked() {
  if (!snapshot_) {
    auto all = std::make_shared<std::vector<policy::ProxyPolicy>>();
    for (const auto& [key, p] : parsed_) all->push_back(p);
    snapshot_ = std::move(all);
  }
  return snapshot_;
}

std::shared_ptr<const webhook::AdmissionPolicies> PolicyIndex::admissionPolicies() {
  std::lock_guard lock(mutex_);
  if (!admission_ || admissionStale_) {
    auto out = std::make_shared<webhook::AdmissionPolicies>();
    out->policies = snapshotLocked();
    out->caBundleHashes = caBundleHashes_;
    out->cluster = cluster_;
    out->operatorNamespace = operatorNamespace_;
    webhook::prepareAdmission(*out, admission_.get());
    admission_ = std::move(out);
    admissionStale_ = false;
  }
  return admission_;
}

std::vector<std::string> PolicyIndex::keysWhere(
    const std::function<bool(const policy::ProxyPolicy&)>& matches) const {
  std::vector<std::string> keys;
  std::lock_guard lock(mutex_);
  for (const auto& [key, p] : parsed_) {
    if (matches(p)) keys.push_back(key);
  }
  return keys;
}

bool refersTo(const policy::ProxyPolicy& p, bool secret, const std::string& ns,
              const std::string& name) {
  auto kind = secret ? policy::PemSource::Kind::Secret : policy::PemSource::Kind::ConfigMap;
  auto matches = [&](const policy::PemSource& s) {
    return s.kind == kind && s.namespace_ == ns && s.name == name;
  };
  if (secret && p.spec.credentials && p.spec.credentials->namespace_ == ns &&
      p.spec.credentials->name == name) {
    return true;
  }
  for (const auto& s : p.spec.caBundles) {
    if (matches(s)) return true;
  }
  for (const auto& t : p.spec.targets) {
    if (t.serverCA && matches(*t.serverCA)) return true;
  }
  return false;
}

}  // namespace agentproxy::controller
