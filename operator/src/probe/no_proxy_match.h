// How each agent runtime matches a target against NO_PROXY entries, as measured with real agents
// (docs/runtimes.md "What each runtime reads"). Pure.
#pragma once

#include <string>
#include <vector>

namespace agentproxy::probe {

// A CIDR range (10.96.0.0/12, fd00::/108).
bool isCidr(const std::string& entry);
// host:port, but not an IPv6 literal (which has colons of its own).
bool hasPort(const std::string& entry);
// Whether `ip` (an IPv4 or IPv6 literal) lies in the CIDR range `cidr`.
bool cidrContains(const std::string& cidr, const std::string& ip);

// Whether an agent of `runtime` (grpc-core, go, jvm, node, dotnet) given these normalized
// NO_PROXY entries (for the JVM: -Dhttp.nonProxyHosts converted from them, ".x" as "*.x" and
// CIDR ranges left out) connects to host:port directly instead of through the proxy.
bool bypassesProxy(const std::string& runtime, const std::vector<std::string>& entries,
                   const std::string& host, int port);

}  // namespace agentproxy::probe
