// The cluster's ProxyPolicies as the controller and the webhook read them: parsed once per spec,
// with the snapshot of all parsed policies (for injection planning) and the webhook's
// AdmissionPolicies built from them. Fed by the ProxyPolicy informer's events.
//
// Guarantees: a policy is parsed again only when its uid or generation changes, so a status
// write parses nothing and keeps the snapshots (rebuilding them per write made a burst of N
// writes cost N * N copies); one that does not parse is left out (reconcile reports it, the
// webhook ignores it). snapshot() and admissionPolicies() are rebuilt only after what they hold
// changed (a policy, or its status.caBundleHash), the latter reusing its predecessor's prepared
// injections. Thread-safe: the informer writes while workers and the webhook read.
// Assumes: keys are Informer::keyOf(object), unique per policy.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/injection.h"
#include "policy/no_proxy.h"
#include "policy/proxy_policy.h"
#include "webhook/admission.h"

namespace agentproxy::controller {

class PolicyIndex {
 public:
  PolicyIndex(policy::ClusterNetwork cluster, std::string operatorNamespace);

  // The policy `object` (key `key`) was added or changed.
  void upsert(const std::string& key, const nlohmann::json& object);
  void erase(const std::string& key);

  // Every parsed policy, in key order.
  PolicySnapshot snapshot();
  std::shared_ptr<const webhook::AdmissionPolicies> admissionPolicies();
  // The keys of the parsed policies `matches` holds for, in key order.
  std::vector<std::string> keysWhere(
      const std::function<bool(const policy::ProxyPolicy&)>& matches) const;

 private:
  PolicySnapshot snapshotLocked();

  const policy::ClusterNetwork cluster_;
  const std::string operatorNamespace_;
  mutable std::mutex mutex_;
  std::map<std::string, policy::ProxyPolicy> parsed_;
  std::map<std::string, std::string> caBundleHashes_;  // status.caBundleHash, by key
  PolicySnapshot snapshot_;                            // of parsed_; reset when it changes
  std::shared_ptr<const webhook::AdmissionPolicies> admission_;  // rebuilt when stale
  bool admissionStale_ = false;
};

// Whether `policy` names the Secret (`secret`) or ConfigMap ns/name anywhere in its spec: its
// credentials, a CA bundle or a target's server CA.
bool refersTo(const policy::ProxyPolicy& policy, bool secret, const std::string& ns,
              const std::string& name);

}  // namespace agentproxy::controller
