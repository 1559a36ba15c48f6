#include "webhook/policy_selection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "webhook_fixtures.h"

namespace agentproxy::webhook {
namespace {

using nlohmann::json;
using testing::agentPod;
using ::testing::ElementsAre;
using testing::proxyPolicy;

const PodNamespace kWorkloads{"workloads", {{"agentproxy.io/inject", "enabled"}}};

TEST(SelectPolicy, MatchesNamespaceAndPodSelectors) {
  std::vector<policy::ProxyPolicy> policies = {proxyPolicy("corp-proxy")};
  auto selection = selectPolicy(agentPod(), kWorkloads, policies, "agentproxy-system");
  ASSERT_EQ(selection.outcome, SelectionOutcome::kInject);
  EXPECT_EQ(selection.policy, &policies[0]);
  EXPECT_TRUE(selection.outvoted.empty());
  EXPECT_EQ(describe(selection, kWorkloads), "injected by ProxyPolicy corp-proxy");
}

TEST(SelectPolicy, NoMatchWhenASelectorOrInjectionSaysNo) {
  std::vector<policy::ProxyPolicy> policies = {
      proxyPolicy("disabled", {{"injection", {{"enabled", false}}}}),
      proxyPolicy("other-app",
                  {{"selector", {{"podSelector", {{"matchLabels", {{"app", "web"}}}}}}}})};
  auto selection = selectPolicy(agentPod(), kWorkloads, policies, "agentproxy-system");
  EXPECT_EQ(selection.outcome, SelectionOutcome::kNoMatchingPolicy);
  EXPECT_EQ(selection.policy, nullptr);

  std::vector<policy::ProxyPolicy> one = {proxyPolicy("corp-proxy")};
  PodNamespace unlabelled{"workloads", {}};
  selection = selectPolicy(agentPod(), unlabelled, one, "agentproxy-system");
  EXPECT_EQ(selection.outcome, SelectionOutcome::kNoMatchingPolicy);
  EXPECT_EQ(describe(selection, unlabelled),
            "not injected: no enabled ProxyPolicy selects the pod");
}

TEST(SelectPolicy, TwoMatchesAlphabeticalWinnerWhateverTheOrderAndLosersReported) {
  std::vector<policy::ProxyPolicy> policies = {proxyPolicy("zeta"), proxyPolicy("alpha"),
                                               proxyPolicy("mid")};
  auto selection = selectPolicy(agentPod(), kWorkloads, policies, "agentproxy-system");
  ASSERT_EQ(selection.outcome, SelectionOutcome::kInject);
  EXPECT_EQ(selection.policy->name, "alpha");
  EXPECT_THAT(selection.outvoted, ElementsAre("mid", "zeta"));
  EXPECT_EQ(describe(selection, kWorkloads),
            "injected by ProxyPolicy alpha; also selected by mid zeta, which lost the "
            "alphabetical tie-break");

  std::reverse(policies.begin(), policies.end());
  selection = selectPolicy(agentPod(), kWorkloads, policies, "agentproxy-system");
  EXPECT_EQ(selection.policy->name, "alpha");
  EXPECT_THAT(selection.outvoted, ElementsAre("mid", "zeta"));
}

TEST(SelectPolicy, OptOutAnnotationFalseSkipsOtherValuesDoNot) {
  std::vector<policy::ProxyPolicy> policies = {proxyPolicy("corp-proxy")};
  json pod = agentPod();
  pod["metadata"]["annotations"]["agentproxy.io/inject"] = "false";
  auto selection = selectPolicy(pod, kWorkloads, policies, "agentproxy-system");
  EXPECT_EQ(selection.outcome, SelectionOutcome::kOptedOut);
  EXPECT_EQ(describe(selection, kWorkloads),
            "not injected: the pod has the annotation agentproxy.io/inject: \"false\"");

  pod["metadata"]["annotations"]["agentproxy.io/inject"] = "true";
  EXPECT_EQ(selectPolicy(pod, kWorkloads, policies, "agentproxy-system").outcome,
            SelectionOutcome::kInject);
}

TEST(SelectPolicy, HostNetworkPodsAreSkipped) {
  std::vector<policy::ProxyPolicy> policies = {proxyPolicy("corp-proxy")};
  json pod = agentPod();
  pod["spec"]["hostNetwork"] = true;
  auto selection = selectPolicy(pod, kWorkloads, policies, "agentproxy-system");
  EXPECT_EQ(selection.outcome, SelectionOutcome::kHostNetwork);
  EXPECT_EQ(describe(selection, kWorkloads), "not injected: the pod uses the host network");
  pod["spec"]["hostNetwork"] = false;
  EXPECT_EQ(selectPolicy(pod, kWorkloads, policies, "agentproxy-system").outcome,
            SelectionOutcome::kInject);
}

TEST(SelectPolicy, SystemAndOperatorNamespacesAreSkippedEvenWhenSelected) {
  std::vector<policy::ProxyPolicy> policies = {proxyPolicy("corp-proxy")};
  for (const char* name : {"kube-system", "kube-public", "agentproxy-system"}) {
    PodNamespace ns{name, {{"agentproxy.io/inject", "enabled"}}};
    auto selection = selectPolicy(agentPod(), ns, policies, "agentproxy-system");
    EXPECT_EQ(selection.outcome, SelectionOutcome::kSystemNamespace) << name;
    EXPECT_EQ(describe(selection, ns),
              "not injected: " + std::string(name) + " is a system namespace");
  }
}

TEST(SelectPolicy, OddPodShapesAreNotInjectedByAccident) {
  std::vector<policy::ProxyPolicy> policies = {proxyPolicy("corp-proxy")};
  json pod = agentPod();
  pod["metadata"]["labels"] = {{"app", 7}};
  EXPECT_EQ(selectPolicy(pod, kWorkloads, policies, "agentproxy-system").outcome,
            SelectionOutcome::kNoMatchingPolicy);
  EXPECT_EQ(selectPolicy(json(), kWorkloads, policies, "agentproxy-system").outcome,
            SelectionOutcome::kNoMatchingPolicy);
}

}  // namespace
}  // namespace agentproxy::webhook
