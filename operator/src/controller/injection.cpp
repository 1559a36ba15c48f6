#include "controller/injection.h"

#include <algorithm>
#include <set>

#include "encoding/encoding.h"
#include "encoding/object_metadata.h"
#include "injection/pod_injection.h"

namespace agentproxy::controller {
namespace {

using encoding::metadataString;
using nlohmann::json;

std::string contentText(const std::map<std::string, std::string>& data,
                        const std::map<std::string, std::string>& binaryData) {
  std::string text;
  for (const auto& [key, value] : data)
    text += key + "\n" + std::to_string(value.size()) + "\n" + value;
  for (const auto& [key, value] : binaryData)
    text += "binary:" + key + "\n" + std::to_string(value.size()) + "\n" + value;
  return text;
}

// `secretKey` null: a digest of data that is not secret (a CA bundle).
std::string contentHash(const std::map<std::string, std::string>& data,
                        const std::map<std::string, std::string>& binaryData,
                        const std::string* secretKey) {
  if (secretKey == nullptr) return "sha256:" + encoding::sha256Hex(contentText(data, binaryData));
  if (secretKey->empty()) {
    throw std::logic_error("planInjection: credentials to copy but no credentialsKey");
  }
  return "hmac-sha256:" + encoding::hmacSha256Hex(*secretKey, contentText(data, binaryData));
}

std::optional<ObjectRef> controllerOf(const json& pod, const std::string& ns) {
  auto refs = pod.value("/metadata/ownerReferences"_json_pointer, json::array());
  if (!refs.is_array()) return std::nullopt;
  for (const auto& ref : refs) {
    if (ref.is_object() && ref.value("controller", false) && ref.contains("kind") &&
        ref["kind"].is_string() && ref.contains("name") && ref["name"].is_string()) {
      return ObjectRef{ref["kind"].get<std::string>(), ns, ref["name"].get<std::string>()};
    }
  }
  return std::nullopt;
}

}  // namespace

InjectionPlan planInjection(const InjectionDesire& desire, const InjectionInputs& inputs) {
  const auto& operatorNamespace = inputs.operatorNamespace;
  const auto& policy = *desire.policy;
  InjectionPlan plan;
  std::map<std::string, const webhook::PodNamespace*> selected;
  if (policy.spec.injectionEnabled) {
    for (const auto& ns : inputs.namespaces) {
      if (!webhook::isExcludedNamespace(policy, ns.name, operatorNamespace) &&
          policy.spec.namespaceSelector.matches(ns.labels)) {
        selected.emplace(ns.name, &ns);
        plan.namespaces.push_back(ns.name);
      }
    }
    std::sort(plan.namespaces.begin(), plan.namespaces.end());
  }

  // The copies every selected namespace should hold.
  std::vector<CopyObject> wanted;
  auto want = [&](const char* kind, std::string_view prefix,
                  std::map<std::string, std::string> data,
                  std::map<std::string, std::string> binaryData = {}) {
    // No namespace selected: nothing to hash (the CA bundle is ~200 KB with the system CAs).
    if (plan.namespaces.empty()) return;
    auto hash = contentHash(data, binaryData,
                            std::string_view(kind) == "Secret" ? &inputs.credentialsKey : nullptr);
    for (const auto& ns : plan.namespaces) {
      wanted.push_back(
          {{kind, ns, injection::copyName(prefix, policy.name)}, data, binaryData, hash});
    }
  };
  if (desire.caBundlePem && !plan.namespaces.empty()) {
    std::map<std::string, std::string> binary;
    if (desire.caTruststore) binary[std::string(injection::kTruststoreKey)] = *desire.caTruststore;
    want("ConfigMap", injection::kCaBundleCopyPrefix,
         {{std::string(injection::kCaBundleKey), *desire.caBundlePem}}, std::move(binary));
  }
  if (desire.proxyUser && desire.proxyPassword) {
    want("Secret", injection::kCredentialsCopyPrefix,
         {{"username", encoding::percentEncode(*desire.proxyUser)},
          {"password", encoding::percentEncode(*desire.proxyPassword)}});
  }

  std::map<ObjectRef, std::string> existing;  // this policy's copies -> content hash
  for (const auto& copy : inputs.copies) {
    auto annotations = encoding::metadataMap(copy, "annotations");
    auto owner = annotations.find(std::string(kCopyOfAnnotation));
    if (owner == annotations.end() || owner->second != policy.name) continue;
    auto hash = annotations.find(std::string(kContentHashAnnotation));
    existing[{copy.value("kind", ""), metadataString(copy, "namespace"),
              metadataString(copy, "name")}] = hash == annotations.end() ? "" : hash->second;
  }
  std::set<ObjectRef> keep;
  for (auto& copy : wanted) {
    keep.insert(copy.ref);
    auto it = existing.find(copy.ref);
    if (it == existing.end() || it->second != copy.contentHash)
      plan.writes.push_back(std::move(copy));
  }
  for (const auto& [ref, hash] : existing) {
    if (!keep.count(ref)) plan.deletes.push_back(ref);
  }

  std::set<ObjectRef> staleOwners;
  std::set<std::string> outvotedBy;
  PolicySnapshot allPolicies;
  for (const auto& [name, ns] : selected) {
    for (const auto& pod : inputs.podsIn(name)) {
      // A finished pod (a Job's) runs nothing that could use the proxy, and cannot restart.
      auto phase = pod.value("/status/phase"_json_pointer, std::string());
      if (phase == "Succeeded" || phase == "Failed") continue;
      if (!allPolicies) allPolicies = inputs.policies();
      auto selection = webhook::selectPolicy(pod, *ns, *allPolicies, operatorNamespace);
      if (selection.outcome != webhook::SelectionOutcome::kInject) continue;
      if (selection.policy->name != policy.name) {
        if (std::find(selection.outvoted.begin(), selection.outvoted.end(), policy.name) !=
            selection.outvoted.end()) {
          ++plan.outvotedPods;
          outvotedBy.insert(selection.policy->name);
        }
        continue;
      }
      ++plan.selectedPods;
      auto annotations = encoding::metadataMap(pod, "annotations");
      auto hash = annotations.find(std::string(injection::kHashAnnotation));
      if (hash != annotations.end() && hash->second == desire.hash) {
        ++plan.injectedPods;
      } else {
        ++plan.stalePods;
        if (auto owner = controllerOf(pod, name)) staleOwners.insert(*owner);
      }
    }
  }
  plan.staleOwners.assign(staleOwners.begin(), staleOwners.end());
  plan.outvotedBy.assign(outvotedBy.begin(), outvotedBy.end());
  return plan;
}

}  // namespace agentproxy::controller
