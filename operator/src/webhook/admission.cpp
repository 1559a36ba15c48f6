#include "webhook/admission.h"

#include <nlohmann/json.hpp>

#include "webhook/admission_review.h"
#include "webhook/pod_mutation.h"

namespace agentproxy::webhook {
namespace {

using nlohmann::json;

std::string podName(const AdmissionRequest& request) {
  auto name = request.pod.value("/metadata/name"_json_pointer, std::string());
  if (name.empty()) {
    name = request.pod.value("/metadata/generateName"_json_pointer, std::string()) + "*";
  }
  return request.namespace_ + "/" + name;
}

AdmissionAnswer review(const std::string& outcome, const json& response, std::string detail) {
  return {200, response.dump(), outcome, std::move(detail)};
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
    return review("skipped", allowedResponse(request.uid, json::array()),
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

  auto selection =
      selectPolicy(request.pod, podNamespace, policies.policies, policies.operatorNamespace);
  if (selection.outcome != SelectionOutcome::kInject) {
    return review("skipped", allowedResponse(request.uid, json::array()),
                  pod + ": " + describe(selection, podNamespace));
  }

  const auto& chosen = *selection.policy;
  try {
    auto hash = policies.caBundleHashes.find(chosen.name);
    auto injection =
        injectionForPolicy(chosen, policies.cluster,
                           hash == policies.caBundleHashes.end() ? std::string() : hash->second);
    injection.outvoted = selection.outvoted;
    auto patch = podPatch(request.pod, injection);
    std::vector<std::string> warnings;
    if (!selection.outvoted.empty()) {
      std::string names;
      for (const auto& n : selection.outvoted) names += (names.empty() ? "" : ", ") + n;
      warnings.push_back("agentproxy: ProxyPolicies " + chosen.name + " and " + names +
                         " all select this pod; " + chosen.name +
                         " applies (the alphabetically first name wins)");
    }
    return review(patch.empty() ? "unchanged" : "injected",
                  allowedResponse(request.uid, patch, warnings),
                  pod + ": ProxyPolicy " + chosen.name);
  } catch (const InjectionError& e) {
    std::string message =
        "agentproxy cannot inject ProxyPolicy " + chosen.name + " into " + pod + ": " + e.what();
    return review("rejected", errorResponse(request.uid, 400, message), message);
  }
}

}  // namespace agentproxy::webhook
