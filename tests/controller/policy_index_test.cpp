#include "controller/policy_index.h"

#include <gtest/gtest.h>

#include "controller/copy_tracker.h"

namespace agentproxy::controller {
namespace {

using nlohmann::json;

// A ProxyPolicy as the API server returns it.
json policyObject(const std::string& name, int64_t generation, const json& extraSpec = {}) {
  json object = {
      {"apiVersion", "agentproxy.io/v1alpha1"},
      {"kind", "ProxyPolicy"},
      {"metadata", {{"name", name}, {"uid", "uid-" + name}, {"generation", generation}}},
      {"spec",
       {{"proxy",
         {{"httpsProxy", "http://proxy.corp.example:3128"},
          {"credentialsSecretRef", {{"namespace", "agentproxy-system"}, {"name", "proxy-auth"}}}}},
        {"targets", {{{"address", "api.mgmt.example.com:443"}}}},
        {"selector",
         {{"namespaceSelector", {{"matchLabels", {{"agentproxy.io/inject", "enabled"}}}}}}}}}};
  if (!extraSpec.is_null()) object["spec"].merge_patch(extraSpec);
  return object;
}

PolicyIndex newIndex() { return PolicyIndex({"10.96.0.1", {}, {}}, "agentproxy-system"); }

TEST(PolicyIndex, AStatusWriteKeepsTheSnapshotsAndASpecChangeRebuildsThem) {
  auto index = newIndex();
  index.upsert("corp", policyObject("corp", 1));
  auto snapshot = index.snapshot();
  auto admission = index.admissionPolicies();
  ASSERT_EQ(snapshot->size(), 1u);
  EXPECT_EQ(snapshot->front().name, "corp");
  EXPECT_EQ(admission->operatorNamespace, "agentproxy-system");
  EXPECT_EQ(admission->cluster.apiServerHost, "10.96.0.1");

  auto withStatus = policyObject("corp", 1);
  withStatus["status"] = {{"classification", "Supported"}};
  index.upsert("corp", withStatus);  // same uid and generation: nothing parsed again
  EXPECT_EQ(index.snapshot(), snapshot);
  EXPECT_EQ(index.admissionPolicies(), admission);

  index.upsert("corp", policyObject("corp", 2, {{"proxy", {{"noProxy", {".corp.example"}}}}}));
  EXPECT_NE(index.snapshot(), snapshot);
  EXPECT_NE(index.admissionPolicies(), admission);
  EXPECT_EQ(index.snapshot()->front().generation, 2);
}

TEST(PolicyIndex, ACaBundleHashChangeRebuildsOnlyTheAdmissionPolicies) {
  auto index = newIndex();
  index.upsert("corp", policyObject("corp", 1));
  auto snapshot = index.snapshot();
  auto admission = index.admissionPolicies();
  auto withHash = policyObject("corp", 1);
  withHash["status"] = {{"caBundleHash", "sha256:abc"}};
  index.upsert("corp", withHash);
  EXPECT_EQ(index.snapshot(), snapshot);
  auto rebuilt = index.admissionPolicies();
  EXPECT_NE(rebuilt, admission);
  EXPECT_EQ(rebuilt->caBundleHashes.at("corp"), "sha256:abc");
}

TEST(PolicyIndex, APolicyThatNoLongerParsesAndADeletedOneLeave) {
  auto index = newIndex();
  index.upsert("a", policyObject("a", 1));
  index.upsert("b", policyObject("b", 1));
  EXPECT_EQ(index.snapshot()->size(), 2u);
  auto broken = policyObject("a", 2);
  broken["spec"]["proxy"]["httpsProxy"] = "not a URL";
  index.upsert("a", broken);
  ASSERT_EQ(index.snapshot()->size(), 1u);
  EXPECT_EQ(index.snapshot()->front().name, "b");
  index.erase("b");
  EXPECT_TRUE(index.snapshot()->empty());
  EXPECT_TRUE(index.admissionPolicies()->policies->empty());
}

TEST(PolicyIndex, KeysWhereFindsThePoliciesThatReferToASecretOrConfigMap) {
  auto index = newIndex();
  index.upsert("creds", policyObject("creds", 1));
  index.upsert("ca", policyObject("ca", 1,
                                  {{"trust",
                                    {{"caBundles",
                                      {{{"configMapRef",
                                         {{"namespace", "agentproxy-system"},
                                          {"name", "corp-ca"},
                                          {"key", "ca.crt"}}}}}}}}}));
  auto referring = [&](bool secret, const std::string& name) {
    return index.keysWhere([&](const policy::ProxyPolicy& p) {
      return refersTo(p, secret, "agentproxy-system", name);
    });
  };
  EXPECT_EQ(referring(true, "proxy-auth"), (std::vector<std::string>{"ca", "creds"}));
  EXPECT_EQ(referring(false, "corp-ca"), (std::vector<std::string>{"ca"}));
  EXPECT_TRUE(referring(true, "corp-ca").empty());  // a ConfigMap, not a Secret
  EXPECT_TRUE(referring(false, "proxy-auth").empty());
}

json copyObject(const std::string& ns, const std::string& name, const std::string& owner,
                bool managed = true) {
  json labels = json::object();
  if (managed) labels[std::string(kManagedByLabel)] = std::string(kManagedByValue);
  return {{"metadata",
           {{"namespace", ns},
            {"name", name},
            {"resourceVersion", "7"},
            {"labels", labels},
            {"annotations", {{std::string(kCopyOfAnnotation), owner}}}}}};
}

TEST(CopyTracker, HoldsOnlyTheOperatorsCopiesByPolicy) {
  EXPECT_TRUE(CopyTracker::isCopy(copyObject("team-a", "corp-ca", "corp")));
  EXPECT_FALSE(CopyTracker::isCopy(copyObject("team-a", "corp-ca", "corp", /*managed=*/false)));
  EXPECT_FALSE(CopyTracker::isCopy(
      json{{"metadata", {{"labels", {{std::string(kManagedByLabel), "agentproxy"}}}}}}));
  EXPECT_EQ(CopyTracker::ownerOf(copyObject("team-a", "corp-ca", "corp")), "corp");

  CopyTracker copies;
  copies.changed("ConfigMap", copyObject("team-a", "corp-ca", "corp"));
  copies.changed("Secret", copyObject("team-a", "proxy-auth", "corp"));
  copies.changed("ConfigMap", copyObject("team-b", "other-ca", "other"));
  EXPECT_EQ(copies.owners(), (std::vector<std::string>{"corp", "other"}));
  auto refs = copies.refsOf("corp");
  ASSERT_EQ(refs.size(), 2u);
  auto objects = copies.objectsOf("corp");
  ASSERT_EQ(objects.size(), 2u);
  for (const auto& object : objects) {
    EXPECT_TRUE(object.contains("kind"));
    EXPECT_EQ(object["metadata"]["namespace"], "team-a");
  }

  copies.deleted("ConfigMap", copyObject("team-b", "other-ca", "other"));
  EXPECT_EQ(copies.owners(), (std::vector<std::string>{"corp"}));
  EXPECT_TRUE(copies.refsOf("other").empty());
  copies.deleted("Secret", copyObject("team-a", "corp-ca", "corp"));  // no such Secret copy
  EXPECT_EQ(copies.refsOf("corp").size(), 2u);
}

}  // namespace
}  // namespace agentproxy::controller
