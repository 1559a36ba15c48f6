#include "webhook/admission.h"

#include <nlohmann/json.hpp>

#include "encoding/object_metadata.h"
#include "injection/pod_injection.h"
#include "webhook/admission_review.h"

namespace agentproxy::webhook {
namespace {

using nlohmann::json;

std::string podName(const AdmissionRequest& request) {
  auto name = encoding::metadataString(request.pod, "name");
  if (name.empty()) name = encoding::metadataString(request.pod, "generateName") + "*";
  return request.namespace_ + "/" + name;
}

AdmissionAnswer review(const std::string& outcome, std::string response, std::string detail) {
  return {200, std::move(response), outcome, std::move(detail)};
}

Injection injectionOf(const policy::ProxyPolicy& policy, const AdmissionPolicies& snapshot) {
  auto hash = snapshot.caBundleHashes.find(policy.name);
  return injectionForPolicy(policy, snapshot.cluster,
                            hash == snapshot.caBundleHashes.end() ? std::string() : hash->second);
}

}  // namespace

AdmissionAnswer admitPod(std::string_view body, const AdmissionPolicies& policies,
                         const NamespaceLookup& lookupNamespace) {
  AdmissionRequest request;
  try {
    request = parseAdmissionReview(body);
  } catch (const AdmissionError& e) {
    if (e.uid().empty()) {
      return {400, json{{"error", e.what()}}.dump(), "invalid", e.what()};
    }
    return review("invalid", errorResponse(e.uid(), 400, e.what()), e.what());
  }
  const std::string pod = podName(request);
  if (request.operation != "CREATE") {
    return review("skipped", allowedResponse(request.uid, ""),
                  pod + ": " + request.operation + " is not injected");
  }

  PodNamespace podNamespace{request.namespace_, {}};
  try {
    auto found = lookupNamespace(request.namespace_);
    if (found) podNamespace = std::move(*found);
  } catch (const std::exception& e) {
    std::string message = "agentproxy cannot read namespace " + request.namespace_ +
                          " to select a ProxyPolicy: " + e.what();
    return review("rejected", errorResponse(request.uid, 500, message), pod + ": " + message);
  }

  static const std::vector<policy::ProxyPolicy> kNone;
  auto selection =
      selectPolicy(request.pod, podNamespace, policies.policies ? *policies.policies : kNone,
                   policies.operatorNamespace);
  if (selection.outcome != SelectionOutcome::kInject) {
    return review("skipped", allowedResponse(request.uid, ""),
                  pod + ": " + describe(selection, podNamespace));
  }

  const auto& chosen = *selection.policy;
  try {
    std::shared_ptr<const PreparedInjection> prepared;
    if (auto found = policies.prepared.find(chosen.name); found != policies.prepared.end()) {
      prepared = found->second;
    } else {
      prepared =
          std::make_shared<PreparedInjection>(prepareInjection(injectionOf(chosen, policies)));
    }
    auto patch = writePodPatch(request.pod, *prepared, selection.outvoted);
    std::vector<std::string> warnings;
    if (!selection.outvoted.empty()) {
      std::string names;
      for (const auto& n : selection.outvoted) names += (names.empty() ? "" : ", ") + n;
      warnings.push_back("agentproxy: ProxyPolicies " + chosen.name + " and " + names +
                         " all select this pod; " + chosen.name +
                         " applies (the alphabetically first name wins)");
    }
    return review(patch == "[]" ? "unchanged" : "injected",
                  allowedResponse(request.uid, patch, warnings),
                  pod + ": ProxyPolicy " + chosen.name);
  } catch (const InjectionError& e) {
    std::string message =
        "agentproxy cannot inject ProxyPolicy " + chosen.name + " into " + pod + ": " + e.what();
    return review("rejected", errorResponse(request.uid, 400, message), message);
  }
}

void prepareAdmission(AdmissionPolicies& snapshot, const AdmissionPolicies* previous) {
  snapshot.prepared.clear();
  if (!snapshot.policies) return;
  // What an injection depends on: the policy's spec (its generation), its CA bundle's hash and
  // the cluster. When none changed, the previous preparation is taken as it is: status writes
  // renew the snapshot far more often than specs change.
  std::map<std::string_view, const policy::ProxyPolicy*> before;
  if (previous && previous->policies && previous->cluster == snapshot.cluster) {
    for (const auto& p : *previous->policies) before.emplace(p.name, &p);
  }
  auto hashOf = [](const AdmissionPolicies& s, const std::string& name) {
    auto it = s.caBundleHashes.find(name);
    return it == s.caBundleHashes.end() ? std::string_view() : std::string_view(it->second);
  };
  for (const auto& policy : *snapshot.policies) {
    if (auto old = before.find(policy.name); old != before.end()) {
      auto prepared = previous->prepared.find(policy.name);
      if (prepared != previous->prepared.end() && old->second->uid == policy.uid &&
          old->second->generation == policy.generation &&
          hashOf(*previous, policy.name) == hashOf(snapshot, policy.name)) {
        snapshot.prepared.emplace(policy.name, prepared->second);
        continue;
      }
    }
    try {
      snapshot.prepared.emplace(policy.name, std::make_shared<PreparedInjection>(
                                                 prepareInjection(injectionOf(policy, snapshot))));
    } catch (const InjectionError&) {
      // admitPod() meets it again and answers with the message.
    }
  }
}

}  // namespace agentproxy::webhook
