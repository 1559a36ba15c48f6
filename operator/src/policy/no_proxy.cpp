#include "policy/no_proxy.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "probe/prober.h"
#include "probe/no_proxy_match.h"
#include "probe/proxy_url.h"

namespace agentproxy::policy {
namespace {

using probe::hasPort;
using probe::isCidr;

std::string lowerCase(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string normalizeNoProxyEntry(std::string entry) {
  auto first = entry.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  auto last = entry.find_last_not_of(" \t\r\n");
  entry = lowerCase(entry.substr(first, last - first + 1));
  if (entry.size() > 2 && entry.front() == '[' && entry.back() == ']') {
    entry = entry.substr(1, entry.size() - 2);
  }
  if (entry.rfind("*.", 0) == 0) entry.erase(0, 1);
  return entry;
}

std::string javaNonProxyHosts(const std::vector<std::string>& entries) {
  std::string out;
  for (const auto& e : entries) {
    if (e.empty() || isCidr(e)) continue;
    out += (out.empty() ? "" : "|") + (e.front() == '.' ? "*" + e : e);
  }
  return out;
}

std::vector<std::string> effectiveNoProxyEntries(const std::vector<std::string>& policyEntries,
                                                 const ClusterNetwork& cluster) {
  std::vector<std::string> entries = {"localhost", "127.0.0.1", "169.254.169.254"};
  if (!cluster.apiServerHost.empty()) entries.push_back(cluster.apiServerHost);
  entries.insert(entries.end(), {".svc", ".cluster.local"});
  entries.insert(entries.end(), cluster.serviceCIDRs.begin(), cluster.serviceCIDRs.end());
  entries.insert(entries.end(), cluster.podCIDRs.begin(), cluster.podCIDRs.end());
  entries.insert(entries.end(), policyEntries.begin(), policyEntries.end());
  std::vector<std::string> unique;
  for (auto& raw : entries) {
    auto e = normalizeNoProxyEntry(raw);
    if (!e.empty() && std::find(unique.begin(), unique.end(), e) == unique.end())
      unique.push_back(std::move(e));
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
