#include "webhook/policy_selection.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "encoding/object_metadata.h"

namespace agentproxy::webhook {
namespace {

using nlohmann::json;

bool runsInHostNetwork(const json& pod) {
  auto spec = pod.find("spec");
  if (spec == pod.end() || !spec->is_object()) return false;
  auto hostNetwork = spec->find("hostNetwork");
  return hostNetwork != spec->end() && hostNetwork->is_boolean() && hostNetwork->get<bool>();
}

bool isSystemNamespace(std::string_view name) {
  return name == "kube-system" || name == "kube-public";
}

}  // namespace

bool isExcludedNamespace(const policy::ProxyPolicy& policy, std::string_view name,
                         std::string_view operatorNamespace) {
  return (!operatorNamespace.empty() && name == operatorNamespace) ||
         (isSystemNamespace(name) && !policy.spec.injectSystemNamespaces);
}

PolicySelection selectPolicy(const json& pod, const PodNamespace& podNamespace,
                             const std::vector<policy::ProxyPolicy>& policies,
                             std::string_view operatorNamespace) {
  PolicySelection selection;
  if (!operatorNamespace.empty() && podNamespace.name == operatorNamespace) {
    selection.outcome = SelectionOutcome::kSystemNamespace;
    return selection;
  }
  const bool system = isSystemNamespace(podNamespace.name);
  const bool hostNetwork = pod.is_object() && runsInHostNetwork(pod);
  auto annotations = encoding::metadataMap(pod, "annotations");
  if (auto it = annotations.find(std::string(kInjectAnnotation));
      it != annotations.end() && it->second == "false") {
    selection.outcome = SelectionOutcome::kOptedOut;
    return selection;
  }

  auto labels = encoding::metadataMap(pod, "labels");
  std::vector<const policy::ProxyPolicy*> candidates;
  for (const auto& p : policies) {
    if (p.spec.injectionEnabled && (!system || p.spec.injectSystemNamespaces) &&
        (!hostNetwork || p.spec.injectHostNetworkPods) &&
        p.spec.namespaceSelector.matches(podNamespace.labels) &&
        p.spec.podSelector.matches(labels)) {
      candidates.push_back(&p);
    }
  }
  if (candidates.empty()) {
    selection.outcome = system        ? SelectionOutcome::kSystemNamespace
                        : hostNetwork ? SelectionOutcome::kHostNetwork
                                      : SelectionOutcome::kNoMatchingPolicy;
    return selection;
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const auto* a, const auto* b) { return a->name < b->name; });
  selection.outcome = SelectionOutcome::kInject;
  selection.policy = candidates.front();
  for (size_t i = 1; i < candidates.size(); ++i) selection.outvoted.push_back(candidates[i]->name);
  return selection;
}

std::string describe(const PolicySelection& selection, const PodNamespace& podNamespace) {
  switch (selection.outcome) {
    case SelectionOutcome::kInject: {
      std::string text = "injected by ProxyPolicy " + selection.policy->name;
      if (!selection.outvoted.empty()) {
        text += "; also selected by";
        for (const auto& name : selection.outvoted) text += " " + name;
        text += ", which lost the alphabetical tie-break";
      }
      return text;
    }
    case SelectionOutcome::kSystemNamespace:
      return "not injected: " + podNamespace.name + " is a system namespace";
    case SelectionOutcome::kHostNetwork:
      return "not injected: the pod uses the host network";
    case SelectionOutcome::kOptedOut:
      return "not injected: the pod has the annotation " + std::string(kInjectAnnotation) +
             ": \"false\"";
    case SelectionOutcome::kNoMatchingPolicy:
      return "not injected: no enabled ProxyPolicy selects the pod";
  }
  return {};
}

}  // namespace agentproxy::webhook
