#include "kube/resource.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace agentproxy::kube {
namespace {

TEST(ResourcePathTest, CoreGroupAndNamedGroups) {
  EXPECT_EQ(resourcePath(resources::pods(), "default", ""), "/api/v1/namespaces/default/pods");
  EXPECT_EQ(resourcePath(resources::pods(), "", ""), "/api/v1/pods");
  EXPECT_EQ(resourcePath(resources::pods(), "default", "web"),
            "/api/v1/namespaces/default/pods/web");
  EXPECT_EQ(resourcePath(resources::leases(), "kube-system", "agentproxy"),
            "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/agentproxy");
  EXPECT_EQ(resourcePath(resources::proxyPolicies(), "", "corp", "status"),
            "/apis/agentproxy.io/v1alpha1/proxypolicies/corp/status");
  EXPECT_EQ(resourcePath(resources::namespaces(), "", "team-a"), "/api/v1/namespaces/team-a");
}

TEST(ResourcePathTest, RejectsMisuse) {
  EXPECT_THROW(resourcePath(resources::pods(), "", "web"), std::invalid_argument);
  EXPECT_THROW(resourcePath(resources::proxyPolicies(), "default", "p"), std::invalid_argument);
  EXPECT_THROW(resourcePath(resources::pods(), "default", "", "status"), std::invalid_argument);
}

TEST(ResourcePathTest, EncodesSegments) {
  EXPECT_EQ(resourcePath(resources::configMaps(), "a b", "x/y"),
            "/api/v1/namespaces/a%20b/configmaps/x%2Fy");
}

TEST(ResourceTypeTest, Names) {
  EXPECT_EQ(resources::pods().apiVersion(), "v1");
  EXPECT_EQ(resources::leases().apiVersion(), "coordination.k8s.io/v1");
  EXPECT_EQ(resources::leases().displayName(), "leases.coordination.k8s.io");
}

TEST(QueryStringTest, EncodesKeysAndValues) {
  EXPECT_EQ(queryString({}), "");
  EXPECT_EQ(queryString({{"labelSelector", "app=agent,tier in (a,b)"}, {"limit", "10"}}),
            "?labelSelector=app%3Dagent%2Ctier%20in%20%28a%2Cb%29&limit=10");
  EXPECT_EQ(percentEncode("a-b_c.d~e"), "a-b_c.d~e");
  EXPECT_EQ(percentEncode("é"), "%C3%A9");
}

TEST(LabelSelectorTest, RendersMatchLabelsAndExpressions) {
  LabelSelector selector;
  selector.matchLabels = {{"tier", "web"}, {"app", "agent"}};
  selector.matchExpressions = {{"env", "In", {"prod", "dev"}},
                               {"track", "NotIn", {"canary"}},
                               {"managed", "Exists", {}},
                               {"legacy", "DoesNotExist", {}}};
  EXPECT_EQ(selector.toString(),
            "app=agent,tier=web,env in (dev,prod),track notin (canary),managed,!legacy");
  EXPECT_EQ(LabelSelector{}.toString(), "");
}

TEST(LabelSelectorTest, RejectsWhatTheServerWouldReject) {
  EXPECT_THROW((LabelSelector{{}, {{"a", "In", {}}}}.toString()), std::invalid_argument);
  EXPECT_THROW((LabelSelector{{}, {{"a", "Exists", {"x"}}}}.toString()), std::invalid_argument);
  EXPECT_THROW((LabelSelector{{}, {{"a", "Gt", {"1"}}}}.toString()), std::invalid_argument);
}

TEST(LabelSelectorTest, FromJson) {
  auto selector = LabelSelector::fromJson(nlohmann::json::parse(R"({
    "matchLabels": {"agentproxy.io/inject": "enabled"},
    "matchExpressions": [{"key": "app", "operator": "In", "values": ["agent"]}]})"));
  EXPECT_EQ(selector.toString(), "agentproxy.io/inject=enabled,app in (agent)");
  EXPECT_EQ(LabelSelector::fromJson(nullptr).toString(), "");
  EXPECT_THROW(LabelSelector::fromJson(nlohmann::json::parse(R"({"matchLabels": []})")),
               std::invalid_argument);
  EXPECT_THROW(
      LabelSelector::fromJson(nlohmann::json::parse(R"({"matchExpressions": [{"key": "a"}]})")),
      std::invalid_argument);
}

}  // namespace
}  // namespace agentproxy::kube
