// planInjection() over in-memory caches: which copies each namespace gets, which are rewritten
// or deleted, and how selected pods are counted.
#include "controller/injection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "encoding/encoding.h"
#include "injection/pod_injection.h"

namespace agentproxy::controller {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr const char* kOperatorNamespace = "agentproxy-system";
constexpr const char* kCurrentHash = "4b1d6c0e9a7f";

// A ProxyPolicy as the API server returns it, selecting namespaces labelled
// agentproxy.io/inject=enabled; `extraSpec` is merged into spec.
policy::ProxyPolicy proxyPolicy(const std::string& name, const json& extraSpec = json::object()) {
  json object = {
      {"apiVersion", "agentproxy.io/v1alpha1"},
      {"kind", "ProxyPolicy"},
      {"metadata", {{"name", name}, {"uid", "uid-" + name}, {"generation", 1}}},
      {"spec",
       {{"proxy",
         {{"httpsProxy", "http://proxy.corp.example:3128"},
          {"credentialsSecretRef", {{"namespace", kOperatorNamespace}, {"name", "proxy-auth"}}}}},
        {"targets", {{{"address", "api.mgmt.example.com:443"}}}},
        {"selector",
         {{"namespaceSelector", {{"matchLabels", {{"agentproxy.io/inject", "enabled"}}}}}}}}}};
  object["spec"].merge_patch(extraSpec);
  return policy::parseProxyPolicy(object);
}

InjectionDesire desireFor(const policy::ProxyPolicy& policy) {
  InjectionDesire desire;
  desire.policy = &policy;
  desire.hash = kCurrentHash;
  desire.caBundlePem = std::make_shared<const std::string>(
      "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n");
  desire.proxyUser = "agent";
  desire.proxyPassword = "p@ss";
  return desire;
}

json pod(const std::string& name, const json& metadata = json::object(),
         const json& spec = json::object()) {
  json p = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", "agents"}, {"labels", {{"app", "agent"}}}}},
            {"spec", {{"containers", {{{"name", "agent"}, {"image", "agent:1"}}}}}}};
  p["metadata"].merge_patch(metadata);
  p["spec"].merge_patch(spec);
  return p;
}

json injectedPod(const std::string& name, const std::string& policyName,
                 const std::string& hash = kCurrentHash) {
  return pod(name, {{"annotations",
                     {{std::string(injection::kPolicyAnnotation), policyName},
                      {std::string(injection::kHashAnnotation), hash}}}});
}

json ownedBy(const std::string& kind, const std::string& name, bool controller = true) {
  return {{"ownerReferences",
           {{{"apiVersion", "apps/v1"},
             {"kind", kind},
             {"name", name},
             {"uid", "uid-" + name},
             {"controller", controller}}}}};
}

// A copy as the metadata-only informer keeps it.
json copyObject(const std::string& kind, const std::string& ns, const std::string& name,
                const std::string& policyName, const std::string& contentHash) {
  json annotations = json::object();
  if (!policyName.empty()) annotations[std::string(kCopyOfAnnotation)] = policyName;
  if (!contentHash.empty()) annotations[std::string(kContentHashAnnotation)] = contentHash;
  return {{"kind", kind},
          {"metadata",
           {{"name", name},
            {"namespace", ns},
            {"labels", {{kManagedByLabel, kManagedByValue}}},
            {"annotations", annotations}}}};
}

// What the cluster would hold after the plan's writes.
std::vector<json> asWritten(const InjectionPlan& plan, const std::string& policyName) {
  std::vector<json> copies;
  for (const auto& c : plan.writes) {
    copies.push_back(
        copyObject(c.ref.kind, c.ref.namespace_, c.ref.name, policyName, c.contentHash));
  }
  return copies;
}

class PlanInjectionTest : public ::testing::Test {
 protected:
  PlanInjectionTest() {
    inputs_.namespaces = {{"team-b", {{"agentproxy.io/inject", "enabled"}}},
                          {"agents", {{"agentproxy.io/inject", "enabled"}}},
                          {"default", {}},
                          {"kube-system", {{"agentproxy.io/inject", "enabled"}}},
                          {"kube-public", {{"agentproxy.io/inject", "enabled"}}},
                          {kOperatorNamespace, {{"agentproxy.io/inject", "enabled"}}}};
    inputs_.podsIn = [this](const std::string& ns) {
      auto it = pods_.find(ns);
      return it == pods_.end() ? std::vector<json>{} : it->second;
    };
    inputs_.policies = [this] {
      ++policiesAsked_;
      return PolicySnapshot(std::make_shared<std::vector<policy::ProxyPolicy>>(policies_));
    };
    inputs_.operatorNamespace = kOperatorNamespace;
    inputs_.credentialsKey = "a key only this operator holds";
  }

  InjectionPlan plan(const policy::ProxyPolicy& policy) {
    return planInjection(desireFor(policy), inputs_);
  }

  std::map<std::string, std::vector<json>> pods_;
  std::vector<policy::ProxyPolicy> policies_;
  int policiesAsked_ = 0;
  InjectionInputs inputs_;
};

TEST_F(PlanInjectionTest, SelectedNamespacesGetBothCopiesExcludedOnesNone) {
  policies_ = {proxyPolicy("corp-proxy")};
  // Pods in excluded namespaces count for nobody.
  pods_["kube-system"] = {pod("coredns-1")};
  pods_[kOperatorNamespace] = {pod("agentproxy-1")};
  auto p = plan(policies_[0]);
  EXPECT_THAT(p.namespaces, ElementsAre("agents", "team-b"));
  std::vector<ObjectRef> refs;
  for (const auto& c : p.writes) refs.push_back(c.ref);
  EXPECT_THAT(refs,
              UnorderedElementsAre(ObjectRef{"ConfigMap", "agents", "agentproxy-ca-corp-proxy"},
                                   ObjectRef{"Secret", "agents", "agentproxy-proxy-corp-proxy"},
                                   ObjectRef{"ConfigMap", "team-b", "agentproxy-ca-corp-proxy"},
                                   ObjectRef{"Secret", "team-b", "agentproxy-proxy-corp-proxy"}));
  for (const auto& c : p.writes) {
    if (c.ref.kind == "ConfigMap") {
      EXPECT_EQ(c.data,
                (std::map<std::string, std::string>{
                    {std::string(injection::kCaBundleKey), *desireFor(policies_[0]).caBundlePem}}));
    } else {
      EXPECT_EQ(c.data, (std::map<std::string, std::string>{{"username", "agent"},
                                                            {"password", "p%40ss"}}));
    }
    EXPECT_EQ(c.contentHash.rfind(c.ref.kind == "Secret" ? "hmac-sha256:" : "sha256:", 0), 0u)
        << c.contentHash;
  }
  EXPECT_THAT(p.deletes, IsEmpty());
  EXPECT_EQ(p.selectedPods, 0);
  EXPECT_EQ(policiesAsked_, 0);  // no pod in a selected namespace: no competition to weigh
}

TEST_F(PlanInjectionTest, OperatorNamespaceIsExcludedWhateverItsName) {
  inputs_.operatorNamespace = "agents";
  policies_ = {proxyPolicy("corp-proxy")};
  auto p = plan(policies_[0]);
  EXPECT_THAT(p.namespaces, ElementsAre(kOperatorNamespace, "team-b"));
  for (const auto& c : p.writes) EXPECT_NE(c.ref.namespace_, "agents");
}

TEST_F(PlanInjectionTest, WithoutCaBundleOrCredentialsNoCopyOfThem) {
  policies_ = {proxyPolicy("corp-proxy")};
  auto desire = desireFor(policies_[0]);
  desire.caBundlePem.reset();
  desire.proxyUser.reset();
  desire.proxyPassword.reset();
  auto p = planInjection(desire, inputs_);
  EXPECT_THAT(p.namespaces, ElementsAre("agents", "team-b"));
  EXPECT_THAT(p.writes, IsEmpty());
}

TEST_F(PlanInjectionTest, CopyWhoseContentHashMatchesIsNotRewritten) {
  policies_ = {proxyPolicy("corp-proxy")};
  auto first = plan(policies_[0]);
  ASSERT_EQ(first.writes.size(), 4u);
  inputs_.copies = asWritten(first, "corp-proxy");
  auto second = plan(policies_[0]);
  EXPECT_THAT(second.writes, IsEmpty());
  EXPECT_THAT(second.deletes, IsEmpty());

  // Someone edited one copy (its hash no longer matches) and stripped another's annotation:
  // those two, and only those, are written again.
  inputs_.copies[0]["metadata"]["annotations"][std::string(kContentHashAnnotation)] =
      "sha256:edited";
  inputs_.copies[1]["metadata"]["annotations"].erase(std::string(kContentHashAnnotation));
  auto third = plan(policies_[0]);
  ASSERT_EQ(third.writes.size(), 2u);
  EXPECT_EQ(third.writes[0].ref, first.writes[0].ref);
  EXPECT_EQ(third.writes[1].ref, first.writes[1].ref);
  EXPECT_EQ(third.writes[0].data, first.writes[0].data);

  // A new password changes the Secret copies' content, not the ConfigMaps'.
  inputs_.copies = asWritten(first, "corp-proxy");
  auto desire = desireFor(policies_[0]);
  desire.proxyPassword = "rotated";
  auto rotated = planInjection(desire, inputs_);
  ASSERT_EQ(rotated.writes.size(), 2u);
  for (const auto& c : rotated.writes) {
    EXPECT_EQ(c.ref.kind, "Secret");
    EXPECT_EQ(c.data.at("password"), "rotated");
  }
}

// Every way a digest of a copy's data could be written without a key: the data's values and
// credentials alone and together, length-prefixed in key order (as the content hash once was),
// as key=value lines, and as JSON.
std::vector<std::string> unkeyedForms(const std::map<std::string, std::string>& data,
                                      const std::vector<std::string>& credentials) {
  std::vector<std::string> forms = credentials;
  std::string lengthPrefixed, lines, values;
  for (const auto& [key, value] : data) {
    forms.push_back(value);
    lengthPrefixed += key + "\n" + std::to_string(value.size()) + "\n" + value;
    lines += key + "=" + value + "\n";
    values += value;
  }
  std::string joined;
  for (const auto& c : credentials) joined += (joined.empty() ? "" : ":") + c;
  forms.insert(forms.end(), {lengthPrefixed, lines, values, json(data).dump(), joined});
  return forms;
}

// No hash of a secret is written: what a credentials copy carries to detect a change is keyed by
// a secret of the operator's, so a guess at the password cannot be checked against it; and a
// rotation is still detected.
TEST_F(PlanInjectionTest, CredentialsCopyCarriesNoUnkeyedHashOfThePassword) {
  policies_ = {proxyPolicy("corp-proxy")};
  auto first = plan(policies_[0]);
  int secrets = 0;
  for (const auto& c : first.writes) {
    if (c.ref.kind != "Secret") continue;
    ++secrets;
    EXPECT_EQ(c.contentHash.rfind("hmac-sha256:", 0), 0u) << c.contentHash;
    for (const auto& text : unkeyedForms(c.data, {"agent", "p@ss"})) {
      EXPECT_EQ(c.contentHash.find(encoding::sha256Hex(text)), std::string::npos)
          << c.ref.name << " carries the SHA-256 of \"" << text << "\"";
    }
  }
  EXPECT_EQ(secrets, 2);
  // Another operator key gives another digest of the same credentials.
  auto firstSecret = std::find_if(first.writes.begin(), first.writes.end(),
                                  [](const CopyObject& c) { return c.ref.kind == "Secret"; });
  ASSERT_NE(firstSecret, first.writes.end());
  inputs_.credentialsKey = "another operator's key";
  auto other = plan(policies_[0]);
  for (const auto& c : other.writes) {
    if (c.ref == firstSecret->ref) {
      EXPECT_NE(c.contentHash, firstSecret->contentHash);
    }
  }
  // Without a key there is nothing safe to write: a broken invariant, not a silent default.
  inputs_.credentialsKey.clear();
  EXPECT_THROW(plan(policies_[0]), std::logic_error);

  // With the key, a rotation is detected and only the credentials copies are rewritten.
  inputs_.credentialsKey = "a key only this operator holds";
  inputs_.copies = asWritten(first, "corp-proxy");
  EXPECT_THAT(plan(policies_[0]).writes, IsEmpty());
  auto desire = desireFor(policies_[0]);
  desire.proxyPassword = "rotated";
  auto rotated = planInjection(desire, inputs_);
  ASSERT_EQ(rotated.writes.size(), 2u);
  for (const auto& c : rotated.writes) EXPECT_EQ(c.ref.kind, "Secret");
}

TEST_F(PlanInjectionTest, CopiesOfAnotherPolicyAreNeverDeleted) {
  policies_ = {proxyPolicy("corp-proxy")};
  auto written = asWritten(plan(policies_[0]), "corp-proxy");
  inputs_.copies = written;
  // Another policy's copies, in a namespace this policy selects and in one it does not.
  inputs_.copies.push_back(
      copyObject("ConfigMap", "agents", "agentproxy-ca-other", "other", "sha256:1"));
  inputs_.copies.push_back(
      copyObject("Secret", "default", "agentproxy-proxy-other", "other", "sha256:2"));
  // One with the managed-by label but no owner annotation.
  inputs_.copies.push_back(copyObject("ConfigMap", "default", "agentproxy-ca-lost", "", ""));
  // This policy's, left behind in a namespace it no longer selects.
  inputs_.copies.push_back(
      copyObject("ConfigMap", "default", "agentproxy-ca-corp-proxy", "corp-proxy", "sha256:3"));

  auto p = plan(policies_[0]);
  EXPECT_THAT(p.writes, IsEmpty());
  EXPECT_THAT(p.deletes,
              ElementsAre(ObjectRef{"ConfigMap", "default", "agentproxy-ca-corp-proxy"}));

  // Injection off: every copy of this policy goes, still none of the others.
  auto disabled = proxyPolicy("corp-proxy", {{"injection", {{"enabled", false}}}});
  auto off = plan(disabled);
  EXPECT_THAT(off.namespaces, IsEmpty());
  EXPECT_THAT(off.writes, IsEmpty());
  EXPECT_EQ(off.deletes.size(), 5u);
  for (const auto& ref : off.deletes) {
    EXPECT_TRUE(ref.name == "agentproxy-ca-corp-proxy" || ref.name == "agentproxy-proxy-corp-proxy")
        << ref.name;
  }
}

TEST_F(PlanInjectionTest, PodAnotherPolicyWinsCountsAsOutvoted) {
  // a-proxy selects only app=agent pods; corp-proxy every pod; z-off is disabled.
  policies_ = {proxyPolicy("corp-proxy"),
               proxyPolicy("a-proxy", {{"selector",
                                        {{"podSelector", {{"matchLabels", {{"app", "agent"}}}}}}}}),
               proxyPolicy("z-off", {{"injection", {{"enabled", false}}}})};
  pods_["agents"] = {pod("agent-1"), pod("web-1", {{"labels", {{"app", "web"}}}})};

  auto corp = plan(policies_[0]);
  EXPECT_EQ(corp.selectedPods, 1);  // web-1
  EXPECT_EQ(corp.stalePods, 1);
  EXPECT_EQ(corp.outvotedPods, 1);  // agent-1
  EXPECT_THAT(corp.outvotedBy, ElementsAre("a-proxy"));

  auto a = plan(policies_[1]);
  EXPECT_EQ(a.selectedPods, 1);  // agent-1, counted once, by its winner
  EXPECT_EQ(a.outvotedPods, 0);
  EXPECT_THAT(a.outvotedBy, IsEmpty());

  auto off = plan(policies_[2]);
  EXPECT_EQ(off.selectedPods, 0);
  EXPECT_EQ(off.outvotedPods, 0);
}

TEST_F(PlanInjectionTest, OptedOutAndHostNetworkPodsAreNotCounted) {
  policies_ = {proxyPolicy("corp-proxy")};
  pods_["agents"] = {
      pod("opted-out", {{"annotations", {{"agentproxy.io/inject", "false"}}}}),
      pod("host-net", json::object(), {{"hostNetwork", true}}),
      pod("opted-in", {{"annotations", {{"agentproxy.io/inject", "true"}}}}),
      injectedPod("current", "corp-proxy"),
  };
  auto p = plan(policies_[0]);
  EXPECT_EQ(p.selectedPods, 2);
  EXPECT_EQ(p.injectedPods, 1);
  EXPECT_EQ(p.stalePods, 1);  // opted-in, created before the policy
  EXPECT_EQ(p.outvotedPods, 0);
  EXPECT_EQ(policiesAsked_, 1);  // once per plan, not per pod
}

TEST_F(PlanInjectionTest, StalePodsNameTheirControllersOnceAndSorted) {
  policies_ = {proxyPolicy("corp-proxy")};
  pods_["agents"] = {
      pod("agent-b-1", ownedBy("ReplicaSet", "agent-b")),
      pod("agent-b-2", ownedBy("ReplicaSet", "agent-b")),
      pod("db-0", ownedBy("StatefulSet", "db")),
      pod("adopted", ownedBy("ReplicaSet", "not-the-controller", false)),
      pod("bare"),
  };
  auto current = injectedPod("agent-a-1", "corp-proxy");
  current["metadata"].merge_patch(ownedBy("ReplicaSet", "agent-a"));
  auto older = injectedPod("agent-c-1", "corp-proxy", "an-older-hash");
  older["metadata"].merge_patch(ownedBy("ReplicaSet", "agent-c"));
  pods_["agents"].push_back(current);
  pods_["agents"].push_back(older);
  pods_["team-b"] = {pod("worker-0", ownedBy("DaemonSet", "worker"))};

  auto p = plan(policies_[0]);
  EXPECT_EQ(p.selectedPods, 8);
  EXPECT_EQ(p.injectedPods, 1);
  EXPECT_EQ(p.stalePods, 7);
  EXPECT_THAT(p.staleOwners, ElementsAre(ObjectRef{"DaemonSet", "team-b", "worker"},
                                         ObjectRef{"ReplicaSet", "agents", "agent-b"},
                                         ObjectRef{"ReplicaSet", "agents", "agent-c"},
                                         ObjectRef{"StatefulSet", "agents", "db"}));
}

// stalePods means "selected pods running without the current injection" (the InjectionReady
// message, the agentproxy_stale_pods metric): a pod that has finished (a Job's, phase Succeeded
// or Failed) runs nothing, cannot be restarted, and must not hold InjectionReady at StalePods.
TEST_F(PlanInjectionTest, FinishedPodsAreNotStale) {
  policies_ = {proxyPolicy("corp-proxy")};
  auto done = pod("migrate-x7k2p", ownedBy("Job", "migrate"));
  done["status"] = {{"phase", "Succeeded"}};
  auto failed = pod("report-q9w8e", ownedBy("Job", "report"));
  failed["status"] = {{"phase", "Failed"}};
  pods_["agents"] = {done, failed, injectedPod("agent-1", "corp-proxy")};
  auto p = plan(policies_[0]);
  EXPECT_EQ(p.stalePods, 0);
  EXPECT_EQ(p.injectedPods, 1);
}

}  // namespace
}  // namespace agentproxy::controller
