// The cluster's own address ranges, which NO_PROXY must hold (DESIGN.md "Injection"): the
// Service CIDRs (networking.k8s.io/v1 ServiceCIDR objects, spec.cidrs; the API server keeps
// the default one, "kubernetes", from --service-cluster-ip-range) and the Pod CIDRs (Nodes'
// spec.podCIDRs), unless given by flag (--service-cidr, --pod-cidr).
//
// Guarantees: clusterRangesFrom() is pure and deterministic: ranges in the objects' order,
// without duplicates, only entries that are CIDR ranges. discoverClusterNetwork() never
// throws: a list that fails (an API server without ServiceCIDR, RBAC) leaves that kind of
// range out and says so in `problems`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "policy/no_proxy.h"

namespace agentproxy::kube {
class Client;
}

namespace agentproxy::controller {

// spec.cidrs of ServiceCIDR objects, spec.podCIDRs (or spec.podCIDR) of Nodes.
std::vector<std::string> serviceCidrsFrom(const std::vector<nlohmann::json>& serviceCidrs);
std::vector<std::string> podCidrsFrom(const std::vector<nlohmann::json>& nodes);

struct DiscoveredNetwork {
  std::vector<std::string> serviceCIDRs;
  std::vector<std::string> podCIDRs;
  std::vector<std::string> problems;  // one sentence per list that failed
};

// Lists ServiceCIDRs when `serviceCidrs` is true and Nodes when `podCidrs` is true.
DiscoveredNetwork discoverClusterNetwork(kube::Client& client, bool serviceCidrs, bool podCidrs);

}  // namespace agentproxy::controller
