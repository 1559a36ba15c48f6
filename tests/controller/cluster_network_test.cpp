#include "controller/cluster_network.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace agentproxy::controller {
namespace {

using nlohmann::json;
using ::testing::ElementsAre;

TEST(ClusterNetwork, ServiceCidrsOfEveryServiceCidrObject) {
  // As kube-apiserver 1.36 serves the default one (from --service-cluster-ip-range).
  std::vector<json> objects = {
      json::parse(R"({"metadata": {"name": "kubernetes"},
                      "spec": {"cidrs": ["10.96.0.0/12", "fd00:10:96::/108"]}})"),
      json::parse(R"({"metadata": {"name": "extra"}, "spec": {"cidrs": ["10.100.0.0/16", "10.96.0.0/12"]}})"),
      json::parse(R"({"metadata": {"name": "broken"}, "spec": {"cidrs": ["not a range", 7]}})"),
      json::parse(R"({"metadata": {"name": "empty"}})")};
  EXPECT_THAT(serviceCidrsFrom(objects),
              ElementsAre("10.96.0.0/12", "fd00:10:96::/108", "10.100.0.0/16"));
}

TEST(ClusterNetwork, PodCidrsOfEveryNode) {
  std::vector<json> nodes = {
      json::parse(R"({"spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24", "fd00:10:244::/64"]}})"),
      json::parse(R"({"spec": {"podCIDR": "10.244.1.0/24"}})"),
      json::parse(R"({"spec": {}})")};
  EXPECT_THAT(podCidrsFrom(nodes), ElementsAre("10.244.0.0/24", "fd00:10:244::/64", "10.244.1.0/24"));
}

}  // namespace
}  // namespace agentproxy::controller
