#include "probe/runtime_verdict.h"

#include <algorithm>

#include "probe/no_proxy_match.h"
#include "probe/proxy_url.h"

namespace agentproxy::probe {
namespace {

std::string title(const std::string& runtime) {
  if (runtime == "grpc-core") return "gRPC C-core (C++, Python, Ruby, PHP)";
  if (runtime == "go") return "grpc-go";
  if (runtime == "jvm") return "The JVM (grpc-java)";
  if (runtime == "node") return "grpc-js (Node)";
  if (runtime == "dotnet") return ".NET (Grpc.Net.Client)";
  return runtime;
}

std::string serverName(const TargetReport& t) {
  return t.serverName.empty() ? t.address : t.serverName;
}

// The host and port of host:port or [v6]:port; port 0 when it does not parse.
TargetAddress addressOf(const TargetReport& t) {
  try {
    return parseTargetAddress(t.address);
  } catch (const InputError&) {
    return {t.address, 0};
  }
}

bool readsCidr(const std::string& runtime, const std::string& ip) {
  if (runtime == "go") return true;
  if (runtime == "node") return ip.find(':') == std::string::npos;  // IPv4 ranges only
  return false;
}

RuntimeVerdict verdict(const std::string& runtime, Classification result, std::string reason,
                       std::string message) {
  return {runtime, result, std::move(reason), std::move(message)};
}

}  // namespace

RuntimeVerdict runtimeVerdict(const std::string& runtime, const TargetReport& target,
                              const RuntimeContext& context) {
  const auto address = addressOf(target);
  const std::string who = title(runtime);
  const std::string name = serverName(target);

  // 1. NO_PROXY, as this runtime matches it: the agent would not use the proxy at all.
  if (bypassesProxy(runtime, context.noProxy, address.host, address.port)) {
    return verdict(runtime, Classification::Unsupported, "TargetInNoProxy",
                   who + " matches " + address.host + " against NO_PROXY" +
                       (runtime == "jvm" ? " (-Dhttp.nonProxyHosts)" : "") +
                       " and connects directly, past the proxy. Remove the entry that covers it "
                       "from spec.proxy.noProxy; an address the cluster's own entries cover "
                       "(localhost, 127.0.0.1, the Service and Pod CIDRs, .svc) is never "
                       "proxied: name the target by an address outside them, or drop it if it is "
                       "reachable without the proxy.");
  }
  std::string cidrIgnored;
  if (isIpLiteral(address.host) && !readsCidr(runtime, address.host)) {
    for (const auto& entry : context.noProxy) {
      if (isCidr(entry) && cidrContains(entry, address.host)) {
        cidrIgnored = entry;
        break;
      }
    }
  }

  // 2. The proxy URL's scheme.
  const bool https = (runtime == "grpc-core" || runtime == "node") ? context.grpcProxyHttps
                                                                     : context.httpsProxy;
  if (https && runtime != "dotnet") {
    std::string how = runtime == "grpc-core" || runtime == "node"
                          ? " ignores an https:// proxy URL and connects directly"
                          : " speaks plain HTTP to the proxy, so its CONNECT never reaches an "
                            "https:// proxy's TLS port";
    return verdict(runtime, Classification::Unsupported, "HTTPSProxyUnsupported",
                   who + how + ". Give the proxy an http:// listener (spec.proxy.httpsProxy, or "
                         "spec.proxy.httpProxy for gRPC C-core and grpc-js).");
  }

  // 3. What the probe found through the proxy holds for every runtime.
  if (target.classification == Classification::Unsupported ||
      target.classification == Classification::Unknown) {
    return verdict(runtime, target.classification, target.reason, target.message);
  }

  // 4. Proxy credentials, as the runtime can send them.
  if (context.credentials && runtime == "jvm") {
    return verdict(
        runtime, Classification::Unsupported, "ProxyCredentialsUnsupported",
        "The JVM takes proxy credentials only from code: grpc-java answers the proxy's 407 only "
        "when the agent installs a java.net.Authenticator (as Gradle and Maven do from "
        "-Dhttps.proxyUser/-Dhttps.proxyPassword), and no variable or property gives them. "
        "Let the agents' addresses through the proxy without authentication, or have the "
        "agent install an Authenticator.");
  }
  if (context.credentialsWithAtSign && runtime == "grpc-core") {
    return verdict(runtime, Classification::Unsupported, "ProxyCredentialsWithAtSign",
                   "gRPC C-core percent-decodes the proxy URL's user name and password before it "
                   "looks for the '@' that ends them, so credentials holding '@' (even as %40) "
                   "make it drop the proxy and connect directly. Use proxy credentials without "
                   "'@'.");
  }

  // 5. Through the proxy as the probe went.
  if (!cidrIgnored.empty()) {
    return verdict(runtime, Classification::Warn, "CIDRNoProxyIgnored",
                   who + " does not read the NO_PROXY range " + cidrIgnored + ", which holds " +
                       address.host + ": it goes through the proxy (which works) instead of "
                       "directly. Add the address itself to spec.proxy.noProxy if it must "
                       "bypass the proxy.");
  }
  return verdict(runtime, target.classification, target.reason,
                 target.classification == Classification::Supported
                     ? who + " reaches " + name + " through the proxy."
                     : target.message);
}

void applyRuntimeVerdicts(ProbeReport& report, const RuntimeContext& context) {
  std::vector<std::string> runtimes = context.runtimes;
  if (runtimes.empty()) runtimes.assign(std::begin(kAllRuntimes), std::end(kAllRuntimes));
  Classification overall = report.targets.empty() ? Classification::Unknown
                                                  : Classification::Supported;
  for (auto& target : report.targets) {
    target.runtimes.clear();
    std::vector<const RuntimeVerdict*> failing;
    for (const auto& runtime : runtimes) {
      target.runtimes.push_back(runtimeVerdict(runtime, target, context));
    }
    for (const auto& v : target.runtimes) {
      if (v.result == Classification::Unsupported || v.result == Classification::Unknown)
        failing.push_back(&v);
    }
    const bool proxyFails = target.classification == Classification::Unsupported ||
                            target.classification == Classification::Unknown;
    if (!failing.empty() && !proxyFails) {
      if (context.counted) {
        if (failing.size() == target.runtimes.size()) {
          target.classification = Classification::Unsupported;
          target.reason = failing.front()->reason;
          target.message = failing.front()->message;
        } else {
          target.classification = worst(target.classification, Classification::Warn);
          std::string names;
          for (const auto* v : failing) names += (names.empty() ? "" : ", ") + v->runtime;
          target.message += " Of the agents' runtimes, " + names + " will not get through: " +
                            failing.front()->message;
          if (target.reason == "TunnelEndToEnd") target.reason = "SomeRuntimesFail";
        }
      } else {
        for (const auto* v : failing) {
          report.warnings.push_back(target.address + ": agents on " + v->runtime + " fail (" +
                                    v->reason + "): " + v->message);
        }
      }
    }
    overall = worst(overall, target.classification);
  }
  if (context.counted) report.classification = overall;
}

}  // namespace agentproxy::probe
