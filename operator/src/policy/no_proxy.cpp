#include "policy/no_proxy.h"

#include <algorithm>

#include "probe/prober.h"
#include "probe/proxy_url.h"

namespace agentproxy::policy {
namespace {

bool isCidr(const std::string& entry) {
  auto slash = entry.find('/');
  if (slash == std::string::npos || slash + 1 >= entry.size()) return false;
  return probe::isIpLiteral(entry.substr(0, slash)) &&
         std::all_of(entry.begin() + static_cast<long>(slash) + 1, entry.end(), ::isdigit);
}

// host:port, but not an IPv6 literal (which has colons of its own).
bool hasPort(const std::string& entry) {
  if (probe::isIpLiteral(entry)) return false;
  auto colon = entry.rfind(':');
  if (colon == std::string::npos || colon + 1 >= entry.size()) return false;
  return std::all_of(entry.begin() + static_cast<long>(colon) + 1, entry.end(), ::isdigit);
}

}  // namespace

std::vector<std::string> effectiveNoProxyEntries(const std::vector<std::string>& policyEntries,
                                                 const ClusterNetwork& cluster) {
  std::vector<std::string> entries = {"localhost", "127.0.0.1", "169.254.169.254"};
  if (!cluster.apiServerHost.empty()) entries.push_back(cluster.apiServerHost);
  entries.insert(entries.end(), {".svc", ".cluster.local"});
  entries.insert(entries.end(), cluster.serviceCIDRs.begin(), cluster.serviceCIDRs.end());
  entries.insert(entries.end(), cluster.podCIDRs.begin(), cluster.podCIDRs.end());
  entries.insert(entries.end(), policyEntries.begin(), policyEntries.end());
  std::vector<std::string> unique;
  for (auto& e : entries) {
    if (std::find(unique.begin(), unique.end(), e) == unique.end()) unique.push_back(e);
  }
  return unique;
}

std::string joinNoProxy(const std::vector<std::string>& entries) {
  std::string out;
  for (const auto& e : entries) out += (out.empty() ? "" : ",") + e;
  return out;
}

std::vector<std::string> runtimeWarnings(const ProxyPolicySpec& spec) {
  std::vector<std::string> warnings;
  for (const auto& entry : spec.noProxy) {
    if (isCidr(entry)) {
      warnings.push_back("noProxy entry " + entry +
                         " is a CIDR: gRPC C-core and Java match host names only");
    } else if (hasPort(entry)) {
      warnings.push_back("noProxy entry " + entry +
                         " has a port: gRPC C-core matches host names only and never matches it "
                         "(Go and curl do)");
    } else if (entry == "*") {
      warnings.push_back(
          "noProxy entry * bypasses the proxy for Go and curl, but gRPC C-core takes it as a "
          "host name and still uses the proxy");
    } else if (entry.rfind("*.", 0) == 0) {
      warnings.push_back("noProxy entry " + entry +
                         " is a wildcard: gRPC C-core matches plain suffixes only; write " +
                         entry.substr(1));
    }
  }
  try {
    for (auto& w : probe::proxyWarnings(probe::parseProxyUrl(spec.httpsProxy))) {
      warnings.push_back(std::move(w));
    }
  } catch (const probe::InputError&) {
    // parseProxyPolicy() already refused such a URL.
  }
  return warnings;
}

}  // namespace agentproxy::policy
