// AdmissionReview bodies as the API server (or anyone who reaches the webhook) sends them,
// through admitPod() with a realistic policy. admitPod() promises never to throw; property:
// its answer is JSON, and every 200 answer is an AdmissionReview.
#include <nlohmann/json.hpp>

#include "fuzz_target.h"
#include "policy/proxy_policy.h"
#include "webhook/admission.h"

using namespace agentproxy;
using agentproxy::fuzz::fuzzCheck;

namespace {

const webhook::AdmissionPolicies& policies() {
  static const webhook::AdmissionPolicies* const snapshot = [] {
    auto policy = policy::parseProxyPolicy(nlohmann::json::parse(R"({
      "apiVersion": "agentproxy.io/v1alpha1", "kind": "ProxyPolicy",
      "metadata": {"name": "corp-proxy", "uid": "uid-corp", "generation": 1},
      "spec": {
        "proxy": {"httpsProxy": "http://proxy.corp.example:3128",
                  "noProxy": ["internal.corp.example", "10.0.0.0/8"],
                  "credentialsSecretRef": {"namespace": "agentproxy-system", "name": "proxy-auth"}},
        "targets": [{"address": "api.mgmt.example.com:443"}],
        "selector": {
          "namespaceSelector": {"matchLabels": {"agentproxy.io/inject": "enabled"}},
          "podSelector": {"matchExpressions": [{"key": "app", "operator": "In",
                                                "values": ["agent"]}]}}}})"));
    auto* a = new webhook::AdmissionPolicies;
    a->policies = std::make_shared<std::vector<policy::ProxyPolicy>>(
        std::vector<policy::ProxyPolicy>{policy});
    a->caBundleHashes = {{"corp-proxy", "sha256:00"}};
    a->cluster = {"10.96.0.1", {"10.96.0.0/12"}, {"10.244.0.0/16"}};
    a->operatorNamespace = "agentproxy-system";
    webhook::prepareAdmission(*a);
    return a;
  }();
  return *snapshot;
}

std::optional<webhook::PodNamespace> lookup(const std::string& name) {
  if (name == "missing") return std::nullopt;
  if (name == "broken") throw std::runtime_error("the namespace cache is not ready");
  return webhook::PodNamespace{name, {{"agentproxy.io/inject", "enabled"}}};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto answer = webhook::admitPod(agentproxy::fuzz::asText(data, size), policies(), lookup);
  auto body = nlohmann::json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
  fuzzCheck(!body.is_discarded(), "the answer is not JSON");
  if (answer.httpStatus == 200) {
    fuzzCheck(body.is_object() && body.value("kind", "") == "AdmissionReview" &&
                  body.contains("response"),
              "a 200 answer that is not an AdmissionReview");
  }
  (void)body.dump();
  return 0;
}
