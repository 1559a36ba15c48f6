// NO_PROXY as the agents get it, and what agent runtimes will get wrong with a policy
// (DESIGN.md's facts on gRPC C-core, Go, curl and Java). Pure.
#pragma once

#include <string>
#include <vector>

#include "policy/proxy_policy.h"
#include "probe/no_proxy_match.h"

namespace agentproxy::policy {

// What the operator knows of the cluster's own addresses, which must never go to the proxy.
struct ClusterNetwork {
  std::string apiServerHost;              // e.g. 10.96.0.1 or api.cluster.example
  std::vector<std::string> serviceCIDRs;  // when known
  std::vector<std::string> podCIDRs;      // when known

  bool operator==(const ClusterNetwork&) const = default;
};

// An entry in the form every runtime reads (FIELD-NOTES' table, docs/runtimes.md): trimmed,
// lower case, "*.x" as ".x", "[v6]" as "v6". Empty when nothing is left.
std::string normalizeNoProxyEntry(std::string entry);

// The cluster defaults (localhost, 127.0.0.1, 169.254.169.254, the API server, .svc,
// .cluster.local, service and pod CIDRs) then the policy's entries, each normalized
// (normalizeNoProxyEntry), without empty entries and duplicates, in that order: the value of
// NO_PROXY, no_proxy and no_grpc_proxy and status.effectiveNoProxy.
std::vector<std::string> effectiveNoProxyEntries(const std::vector<std::string>& policyEntries,
                                                 const ClusterNetwork& cluster);
std::string joinNoProxy(const std::vector<std::string>& entries);

// -Dhttp.nonProxyHosts from normalized entries: '|'-separated, ".x" as "*.x" (the JVM matches
// whole names with '*' at either end), CIDR ranges left out (it matches names only).
std::string javaNonProxyHosts(const std::vector<std::string>& entries);

// One sentence per problem: CIDR, port and wildcard entries that gRPC C-core matches as plain
// host-name suffixes, and an https:// proxy that gRPC C-core ignores.
std::vector<std::string> runtimeWarnings(const ProxyPolicySpec& spec);

}  // namespace agentproxy::policy
