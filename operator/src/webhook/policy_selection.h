// Which ProxyPolicy, if any, injects a pod being created. Pure.
//
// Guarantees: selectPolicy() is deterministic for a given pod, namespace and set of policies,
// whatever their order. A pod is never injected in the operator's own namespace (the operator's
// pods must start without it) or when it carries the annotation agentproxy.io/inject: "false".
// The candidates are the policies with injection enabled whose namespaceSelector matches the
// namespace's labels and whose podSelector matches the pod's labels (an empty selector matches
// everything, as in Kubernetes); in kube-system and kube-public only those that opt in with
// injection.systemNamespaces, and for a pod in the host network (its proxy settings are the
// node's business) only those that opt in with injection.hostNetworkPods. The alphabetically
// first name wins and the others are reported as outvoted.
// Assumes: `pod` is a Pod object as found in an AdmissionReview (labels and annotations are
// string maps; values of other types are ignored); the namespace is the request's, since a pod
// created with generateName may carry none.
#pragma once

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "policy/proxy_policy.h"

namespace agentproxy::webhook {

inline constexpr std::string_view kInjectAnnotation = "agentproxy.io/inject";

struct PodNamespace {
  std::string name;
  std::map<std::string, std::string> labels;
};

enum class SelectionOutcome {
  kInject,           // `policy` is set
  kSystemNamespace,  // kube-system, kube-public or the operator's namespace
  kHostNetwork,
  kOptedOut,  // agentproxy.io/inject: "false"
  kNoMatchingPolicy,
};

struct PolicySelection {
  SelectionOutcome outcome = SelectionOutcome::kNoMatchingPolicy;
  // Points into the `policies` passed to selectPolicy(); valid as long as they are.
  const policy::ProxyPolicy* policy = nullptr;
  // The names of the other matching policies, sorted: the caller warns about them.
  std::vector<std::string> outvoted;
};

PolicySelection selectPolicy(const nlohmann::json& pod, const PodNamespace& podNamespace,
                             const std::vector<policy::ProxyPolicy>& policies,
                             std::string_view operatorNamespace);

// Whether `policy` gets no copies and injects no pod in the namespace: the operator's own,
// and kube-system and kube-public unless the policy opts in.
bool isExcludedNamespace(const policy::ProxyPolicy& policy, std::string_view name,
                         std::string_view operatorNamespace);

// "kube-system is a system namespace", for logs and AdmissionReview warnings.
std::string describe(const PolicySelection& selection, const PodNamespace& podNamespace);

}  // namespace agentproxy::webhook
