#include "controller/cluster_network.h"

#include <algorithm>

#include "kube/client.h"
#include "probe/no_proxy_match.h"

namespace agentproxy::controller {
namespace {

void addRanges(std::vector<std::string>& out, const nlohmann::json& list) {
  if (!list.is_array()) return;
  for (const auto& item : list) {
    if (!item.is_string()) continue;
    auto cidr = item.get<std::string>();
    if (probe::isCidr(cidr) && std::find(out.begin(), out.end(), cidr) == out.end())
      out.push_back(cidr);
  }
}

kube::ResourceType serviceCidrType() { return {"networking.k8s.io", "v1", "servicecidrs", false}; }
kube::ResourceType nodeType() { return {"", "v1", "nodes", false}; }

}  // namespace

std::vector<std::string> serviceCidrsFrom(const std::vector<nlohmann::json>& serviceCidrs) {
  std::vector<std::string> out;
  for (const auto& object : serviceCidrs) {
    addRanges(out, object.value("/spec/cidrs"_json_pointer, nlohmann::json::array()));
  }
  return out;
}

std::vector<std::string> podCidrsFrom(const std::vector<nlohmann::json>& nodes) {
  std::vector<std::string> out;
  for (const auto& node : nodes) {
    auto ranges = node.value("/spec/podCIDRs"_json_pointer, nlohmann::json::array());
    if (ranges.empty() && node.contains("spec") && node["spec"].contains("podCIDR")) {
      ranges = nlohmann::json::array({node["spec"]["podCIDR"]});
    }
    addRanges(out, ranges);
  }
  return out;
}

DiscoveredNetwork discoverClusterNetwork(kube::Client& client, bool serviceCidrs, bool podCidrs) {
  DiscoveredNetwork out;
  if (serviceCidrs) {
    try {
      out.serviceCIDRs = serviceCidrsFrom(client.listAll(serviceCidrType(), "").items);
    } catch (const std::exception& e) {
      out.problems.push_back(std::string("cannot list ServiceCIDRs (networking.k8s.io/v1): ") +
                             e.what() + "; give the Service CIDRs with --service-cidr");
    }
  }
  if (podCidrs) {
    try {
      out.podCIDRs = podCidrsFrom(client.listAll(nodeType(), "").items);
    } catch (const std::exception& e) {
      out.problems.push_back(std::string("cannot list Nodes: ") + e.what() +
                             "; give the Pod CIDRs with --pod-cidr");
    }
  }
  return out;
}

}  // namespace agentproxy::controller
