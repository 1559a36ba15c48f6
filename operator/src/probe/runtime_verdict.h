// Per agent runtime, whether an agent of that runtime, given what the policy injects, gets
// through this proxy to a target, and if not why and what to do (DESIGN.md "Injection",
// docs/runtimes.md). A pure function of the probe's facts about the target, the injection and
// the runtime table measured with real agents (tests/agents). No I/O.
//
// Runtimes: grpc-core (gRPC C-core: C++, Python, Ruby, PHP), go (grpc-go), jvm (grpc-java),
// node (grpc-js), dotnet (Grpc.Net.Client; predicted from its documentation, not run here).
// Reasons (CamelCase, docs/troubleshooting.md explains each):
//   TargetInNoProxy             the runtime matches the target against NO_PROXY (its own rules)
//                               and connects directly, past the proxy;
//   CIDRNoProxyIgnored (Warn)   the target's IP lies in a NO_PROXY CIDR range the runtime does
//                               not read: it goes through the proxy instead;
//   HTTPSProxyUnsupported       the proxy URL the runtime reads is https://: C-core and grpc-js
//                               ignore it and go direct, grpc-go and the JVM send plain CONNECT;
//   ProxyCredentialsUnsupported the JVM takes proxy credentials only from code;
//   ProxyCredentialsWithAtSign  C-core percent-decodes the URL's authority before splitting it
//                               at '@', so credentials holding '@' make it drop the proxy;
//   otherwise the probe's own reason (TunnelEndToEnd, InterceptedWithHTTP2, UntrustedInterceptor,
//   InterceptedWithoutHTTP2, AuthenticationRequired, ...), with its classification.
#pragma once

#include <string>
#include <vector>

#include "probe/report.h"

namespace agentproxy::probe {

// What the verdicts need besides the target's report: what the agents are given.
struct RuntimeContext {
  // The runtimes to judge (policy::kAgentRuntimes names); empty: all five.
  std::vector<std::string> runtimes;
  // True when the runtimes were named (spec.agentRuntimes, --runtime): their verdicts count in
  // the classification. False: the classification stays the probe's, and a runtime that fails
  // is a warning.
  bool counted = false;
  bool httpsProxy = false;      // HTTPS_PROXY (and -Dhttps.proxyHost's proxy) is https://
  bool grpcProxyHttps = false;  // grpc_proxy is https:// too (no http:// proxy in the policy)
  bool credentials = false;     // the proxy is given credentials
  bool credentialsWithAtSign = false;  // a '@' in the user name or password (the raw value)
  std::vector<std::string> noProxy;    // the effective NO_PROXY, normalized
};

inline constexpr const char* kAllRuntimes[] = {"grpc-core", "go", "jvm", "node", "dotnet"};

// One runtime's verdict for one target (`target` classified by classify()).
RuntimeVerdict runtimeVerdict(const std::string& runtime, const TargetReport& target,
                              const RuntimeContext& context);

// Fills targets[].runtimes and, when counted, folds them into each target's and the report's
// classification (some listed runtimes fail: at least Warn; all fail: Unsupported, with the
// first failing runtime's reason and message); when not counted, adds one warning per failing
// runtime and target.
void applyRuntimeVerdicts(ProbeReport& report, const RuntimeContext& context);

}  // namespace agentproxy::probe
