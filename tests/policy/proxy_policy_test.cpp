#include "policy/proxy_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace agentproxy::policy {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

// DESIGN.md's sample policy, as the API server returns it.
json designSample() {
  return json::parse(R"({
    "apiVersion": "agentproxy.io/v1alpha1", "kind": "ProxyPolicy",
    "metadata": {"name": "corp-proxy", "uid": "u-1", "resourceVersion": "42", "generation": 4},
    "spec": {
      "proxy": {
        "httpsProxy": "http://proxy.corp.example:3128",
        "noProxy": [".corp.example", "10.20.0.0/16"],
        "credentialsSecretRef": {"namespace": "agentproxy-system", "name": "proxy-auth"}
      },
      "trust": {
        "caBundles": [
          {"configMapRef": {"namespace": "agentproxy-system", "name": "corp-ca", "key": "ca.crt"}},
          {"secretRef": {"namespace": "agentproxy-system", "name": "corp-ca", "key": "ca.crt"}}
        ],
        "includeSystemCAs": true
      },
      "targets": [{
        "address": "api.mgmt.example.com:443", "serverName": "api.mgmt.example.com",
        "serverCA": {"configMapRef": {"namespace": "agentproxy-system", "name": "mgmt-ca", "key": "ca.crt"}},
        "websocketPath": "/v1/ws"
      }],
      "selector": {
        "namespaceSelector": {"matchLabels": {"agentproxy.io/inject": "enabled"}},
        "podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["agent"]}]}
      },
      "injection": {"enabled": true, "overrideExisting": false, "restartWorkloads": false},
      "probe": {"interval": "5m", "timeout": "10s"}
    }})");
}

TEST(ParseProxyPolicy, DesignSample) {
  auto p = parseProxyPolicy(designSample());
  EXPECT_EQ(p.name, "corp-proxy");
  EXPECT_EQ(p.generation, 4);
  EXPECT_EQ(p.spec.httpsProxy, "http://proxy.corp.example:3128");
  EXPECT_EQ(p.spec.httpProxy, p.spec.httpsProxy);  // defaulted
  ASSERT_TRUE(p.spec.credentials);
  EXPECT_EQ(p.spec.credentials->name, "proxy-auth");
  ASSERT_EQ(p.spec.caBundles.size(), 2u);
  EXPECT_EQ(p.spec.caBundles[1].describe(), "Secret agentproxy-system/corp-ca key ca.crt");
  ASSERT_EQ(p.spec.targets.size(), 1u);
  EXPECT_EQ(p.spec.targets[0].serverCA->describe(),
            "ConfigMap agentproxy-system/mgmt-ca key ca.crt");
  EXPECT_EQ(p.spec.targets[0].websocketPath, "/v1/ws");
  EXPECT_EQ(p.spec.probeInterval, std::chrono::minutes(5));
  EXPECT_EQ(p.spec.probeTimeout, std::chrono::seconds(10));
}

TEST(ParseProxyPolicy, DefaultsOfTheCrd) {
  auto p = parseProxyPolicy(json::parse(R"({"metadata": {"name": "min"},
    "spec": {"proxy": {"httpsProxy": "http://p:3128"}, "targets": [{"address": "a:443"}]}})"));
  EXPECT_TRUE(p.spec.includeSystemCAs);
  EXPECT_TRUE(p.spec.injectionEnabled);
  EXPECT_FALSE(p.spec.overrideExisting);
  EXPECT_EQ(p.spec.probeInterval, std::chrono::minutes(5));
  EXPECT_TRUE(p.spec.podSelector.matches({}));
}

void expectSpecError(const std::function<void(json&)>& mutate, const std::string& field,
                     const std::string& fragment) {
  auto object = designSample();
  mutate(object);
  try {
    parseProxyPolicy(object);
    FAIL() << "accepted " << object["spec"].dump();
  } catch (const SpecError& e) {
    EXPECT_EQ(e.field(), field) << e.what();
    EXPECT_THAT(e.what(), HasSubstr(fragment));
  }
}

TEST(ParseProxyPolicy, ErrorsNameTheField) {
  expectSpecError([](json& o) { o["spec"].erase("proxy"); }, "spec.proxy", "Required value");
  expectSpecError([](json& o) { o["spec"]["proxy"]["httpsProxy"] = "socks5://p:1080"; },
                  "spec.proxy.httpsProxy", "not supported");
  expectSpecError([](json& o) { o["spec"]["proxy"]["httpsProxy"] = "http://u:hunter2@p:3128"; },
                  "spec.proxy.httpsProxy", "credentialsSecretRef");
  expectSpecError([](json& o) { o["spec"]["targets"] = json::array(); }, "spec.targets",
                  "at least one target");
  expectSpecError([](json& o) { o["spec"]["targets"][0]["address"] = "api.example.com"; },
                  "spec.targets[0].address", "has no port");
  expectSpecError([](json& o) { o["spec"]["trust"]["caBundles"][0]["secretRef"] = json::object(); },
                  "spec.trust.caBundles[0]", "exactly one of configMapRef and secretRef");
  expectSpecError([](json& o) { o["spec"]["probe"]["interval"] = "5 minutes"; },
                  "spec.probe.interval", "bad duration");
  expectSpecError([](json& o) { o["spec"]["probe"]["timeout"] = "5m"; }, "spec.probe.timeout",
                  "out of range");
  expectSpecError(
      [](json& o) {
        o["spec"]["selector"]["podSelector"]["matchExpressions"][0]["operator"] = "Like";
      },
      "spec.selector.podSelector.matchExpressions[0].operator", "Unsupported value");
}

TEST(ParseProxyPolicy, CredentialsInTheUrlAreNeverEchoed) {
  auto object = designSample();
  object["spec"]["proxy"]["httpsProxy"] = "http://u:hunter2@p:3128";
  try {
    parseProxyPolicy(object);
  } catch (const SpecError& e) {
    EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("hunter2")));
  }
}

TEST(LabelSelector, MatchLabelsAndExpressions) {
  auto p = parseProxyPolicy(designSample());
  EXPECT_TRUE(p.spec.namespaceSelector.matches({{"agentproxy.io/inject", "enabled"}}));
  EXPECT_FALSE(p.spec.namespaceSelector.matches({{"agentproxy.io/inject", "disabled"}}));
  EXPECT_TRUE(p.spec.podSelector.matches({{"app", "agent"}, {"tier", "x"}}));
  EXPECT_FALSE(p.spec.podSelector.matches({{"app", "web"}}));
  EXPECT_FALSE(p.spec.podSelector.matches({}));

  LabelSelector s;
  s.matchExpressions = {
      {"canary", "DoesNotExist", {}}, {"env", "NotIn", {"prod"}}, {"team", "Exists", {}}};
  EXPECT_TRUE(s.matches({{"team", "a"}, {"env", "dev"}}));
  EXPECT_TRUE(s.matches({{"team", "a"}}));
  EXPECT_FALSE(s.matches({{"team", "a"}, {"env", "prod"}}));
  EXPECT_FALSE(s.matches({{"team", "a"}, {"canary", "1"}}));
  EXPECT_FALSE(s.matches({{"env", "dev"}}));
}

}  // namespace
}  // namespace agentproxy::policy
