#include "policy/no_proxy.h"

#include <nlohmann/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace agentproxy::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(EffectiveNoProxy, ClusterDefaultsThenPolicyEntriesWithoutDuplicates) {
  ClusterNetwork cluster{"10.96.0.1", {"10.96.0.0/12"}, {"10.244.0.0/16"}};
  auto entries = effectiveNoProxyEntries({".corp.example", "localhost", "10.20.0.0/16"}, cluster);
  EXPECT_THAT(entries, ElementsAre("localhost", "127.0.0.1", "169.254.169.254", "10.96.0.1", ".svc",
                                   ".cluster.local", "10.96.0.0/12", "10.244.0.0/16",
                                   ".corp.example", "10.20.0.0/16"));
  EXPECT_EQ(joinNoProxy({"a", ".b"}), "a,.b");
}

TEST(EffectiveNoProxy, UnknownClusterAddressesAreLeftOut) {
  EXPECT_THAT(effectiveNoProxyEntries({}, {}),
              ElementsAre("localhost", "127.0.0.1", "169.254.169.254", ".svc", ".cluster.local"));
}

TEST(RuntimeWarnings, EntriesGrpcCoreCannotMatch) {
  ProxyPolicySpec spec;
  spec.httpsProxy = "http://proxy.corp:3128";
  spec.noProxy = {".corp.example", "10.20.0.0/16", "registry.corp:5000", "*", "*.internal",
                  "::1",           "fd00::/8"};
  auto w = runtimeWarnings(spec);
  ASSERT_EQ(w.size(), 5u);
  EXPECT_EQ(w[0],
            "noProxy entry 10.20.0.0/16 is a CIDR: gRPC C-core and Java match host names only");
  EXPECT_THAT(w[1], HasSubstr("registry.corp:5000 has a port"));
  EXPECT_THAT(w[2], HasSubstr("noProxy entry * bypasses the proxy for Go and curl"));
  EXPECT_THAT(w[3], HasSubstr("write .internal"));
  EXPECT_THAT(w[4], HasSubstr("fd00::/8 is a CIDR"));
}

TEST(RuntimeWarnings, HttpsProxyIsIgnoredByGrpcCore) {
  ProxyPolicySpec spec;
  spec.httpsProxy = "https://proxy.corp:443";
  auto w = runtimeWarnings(spec);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_THAT(w[0], HasSubstr("ignore https:// proxies"));
  spec.httpsProxy = "http://proxy.corp:3128";
  EXPECT_TRUE(runtimeWarnings(spec).empty());
}

TEST(EffectiveNoProxy, EntriesInTheFormEveryRuntimeReads) {
  ClusterNetwork cluster;
  cluster.serviceCIDRs = {"10.96.0.0/12"};
  auto entries = effectiveNoProxyEntries({" *.Corp.Example ", "MGMT.TEST", "", "[fd00::1]",
                                          ".corp.example", "10.20.0.0/16"},
                                         cluster);
  EXPECT_EQ(joinNoProxy(entries),
            "localhost,127.0.0.1,169.254.169.254,.svc,.cluster.local,10.96.0.0/12,"
            ".corp.example,mgmt.test,fd00::1,10.20.0.0/16");
}

TEST(JavaNonProxyHosts, DotEntriesGetAStarAndCidrRangesAreLeftOut) {
  EXPECT_EQ(javaNonProxyHosts({"localhost", ".svc", "10.96.0.0/12", "mgmt.test", "fd00::/8"}),
            "localhost|*.svc|mgmt.test");
}

TEST(ParseAgentRuntimes, KnownNamesInTheirOrderAndAClearErrorOtherwise) {
  nlohmann::json object = {
      {"metadata", {{"name", "p"}}},
      {"spec",
       {{"proxy", {{"httpsProxy", "http://proxy:3128"}}},
        {"targets", {{{"address", "a.example:443"}}}},
        {"agentRuntimes", {"jvm", "go", "jvm"}}}}};
  EXPECT_EQ(parseProxyPolicy(object).spec.agentRuntimes, (std::vector<std::string>{"go", "jvm"}));
  object["spec"]["agentRuntimes"] = {"java"};
  try {
    parseProxyPolicy(object);
    FAIL() << "no error";
  } catch (const SpecError& e) {
    EXPECT_EQ(e.field(), "spec.agentRuntimes[0]");
    EXPECT_THAT(e.what(), HasSubstr("grpc-core, go, jvm, node, dotnet"));
  }
}

}  // namespace
}  // namespace agentproxy::policy
