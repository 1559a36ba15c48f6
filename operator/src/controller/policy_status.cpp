#include "controller/policy_status.h"

#include "controller/conditions.h"

namespace agentproxy::controller {
namespace {

using probe::Classification;
using probe::TargetReport;
using probe::TunnelState;

Condition condition(const char* type, bool ok, std::string reason, std::string message,
                    int64_t generation) {
  return {type, ok ? "True" : "False", std::move(reason), std::move(message), generation, {}};
}

Condition unknown(const char* type, std::string reason, std::string message, int64_t generation) {
  return {type, "Unknown", std::move(reason), std::move(message), generation, {}};
}

// The first target with the report's (worst) classification: its reason and message speak for
// the policy.
const TargetReport* worstTarget(const probe::ProbeReport& report) {
  for (const auto& t : report.targets) {
    if (t.classification == report.classification) return &t;
  }
  return report.targets.empty() ? nullptr : &report.targets.front();
}

std::vector<Condition> probeConditions(const probe::ProbeReport& report, int64_t generation) {
  std::vector<Condition> out;
  const TargetReport* worst = worstTarget(report);

  const TargetReport* unreachable = nullptr;
  const TargetReport* intercepted = nullptr;
  const TargetReport* failedGrpc = nullptr;
  bool anyHandshake = false;
  for (const auto& t : report.targets) {
    bool noAnswer = t.tunnel == TunnelState::ProxyUnreachable ||
                    (t.tunnel == TunnelState::Timeout && t.connectStatus == 0);
    if (noAnswer && !unreachable) unreachable = &t;
    if (t.tlsIntercepted && !intercepted) intercepted = &t;
    if (!t.grpcWorks && !failedGrpc) failedGrpc = &t;
    anyHandshake = anyHandshake || t.tlsHandshakeDone;
  }

  if (unreachable) {
    out.push_back(
        condition("ProxyReachable", false, unreachable->reason, unreachable->message, generation));
  } else {
    out.push_back(condition("ProxyReachable", true, "ProxyAnswered",
                            "The proxy answered CONNECT for every target.", generation));
  }

  if (intercepted) {
    std::string who = report.proxyServer.empty() ? "The proxy" : report.proxyServer;
    out.push_back(condition(
        "TLSIntercepted", true,
        intercepted->interceptorTrusted ? "Intercepted" : "UntrustedInterceptor",
        who + " intercepts TLS for " +
            (intercepted->serverName.empty() ? intercepted->address : intercepted->serverName) +
            " with a certificate issued by \"" + intercepted->interceptorIssuer +
            "\", which the policy's trust " +
            (intercepted->interceptorTrusted ? "includes." : "does not include."),
        generation));
  } else if (anyHandshake) {
    out.push_back(condition("TLSIntercepted", false, "EndToEnd",
                            "The targets' own certificates reach the agents: no TLS "
                            "interception.",
                            generation));
  } else {
    out.push_back(unknown("TLSIntercepted", "NotProbed",
                          "No TLS handshake reached a target, so interception is unknown.",
                          generation));
  }

  if (failedGrpc) {
    out.push_back(
        condition("GRPCSupported", false, failedGrpc->reason, failedGrpc->message, generation));
  } else {
    out.push_back(condition("GRPCSupported", true, "GRPCWorks",
                            "A real gRPC call reached every target through the proxy.",
                            generation));
  }

  bool ready = report.classification == Classification::Supported ||
               report.classification == Classification::Warn;
  std::string reason = report.classification == Classification::Supported ? "Supported"
                       : worst                                            ? worst->reason
                                                                          : "NoTargets";
  std::string message = report.classification == Classification::Supported
                            ? "gRPC reaches every target through the proxy."
                        : worst ? worst->message
                                : "The policy has no targets.";
  out.push_back(condition("Ready", ready, reason, message, generation));
  return out;
}

std::string plural(int n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

Condition injectionCondition(const InjectionObservation& seen, int64_t generation) {
  if (!seen.enabled) {
    return condition("InjectionReady", false, "InjectionDisabled",
                     "spec.injection.enabled is false: no pod gets the proxy settings.",
                     generation);
  }
  if (seen.namespaces == 0) {
    return condition("InjectionReady", false, "NoNamespaceSelected",
                     "No namespace matches spec.selector.namespaceSelector (the operator's "
                     "namespace never does; kube-system and kube-public only with "
                     "spec.injection.systemNamespaces).",
                     generation);
  }
  const std::string where = plural(seen.namespaces, "namespace", "namespaces");
  if (!seen.copyConflicts.empty()) {
    std::string objects;
    for (const auto& c : seen.copyConflicts) objects += (objects.empty() ? "" : ", ") + c;
    return condition("InjectionReady", false, "CopyConflict",
                     objects + (seen.copyConflicts.size() == 1 ? " exists" : " exist") +
                         " but is not managed by agentproxy (no label "
                         "app.kubernetes.io/managed-by=agentproxy): the operator leaves it alone "
                         "and pods there get no proxy settings from it. Delete or rename it, or "
                         "deselect that namespace.",
                     generation);
  }
  if (!seen.copyFailures.empty()) {
    std::string failures;
    for (const auto& f : seen.copyFailures) failures += (failures.empty() ? "" : "; ") + f;
    return condition("InjectionReady", false, "CopyFailed",
                     "The CA bundle or credentials copy could not be kept in place (" + failures +
                         "); pods there may fail to start. Retrying every 30 seconds.",
                     generation);
  }
  if (seen.stalePods > 0) {
    return condition(
        "InjectionReady", false, "StalePods",
        std::to_string(seen.stalePods) + " of " +
            plural(seen.selectedPods, "selected pod runs", "selected pods run") +
            " without the current injection; " +
            (seen.restartWorkloads
                 ? "the operator restarts their workloads one at a time."
                 : "restart them, or set spec.injection.restartWorkloads: true to have the "
                   "operator restart their Deployments, StatefulSets and DaemonSets."),
        generation);
  }
  if (seen.selectedPods == 0 && seen.outvotedPods > 0) {
    return condition("InjectionReady", true, "InjectionCurrent",
                     "Every pod this policy selects in " + where +
                         " is injected by another ProxyPolicy (see status.warnings); new pods "
                         "only it selects get the proxy settings and the CA bundle.",
                     generation);
  }
  return condition("InjectionReady", true, "InjectionCurrent",
                   seen.selectedPods == 0
                       ? "No selected pod runs yet; new pods in " + where +
                             " get the proxy settings and the CA bundle."
                       : plural(seen.selectedPods, "selected pod", "selected pods") + " in " +
                             where + " run with the current injection.",
                   generation);
}

}  // namespace

std::string classificationOf(const nlohmann::json& status) {
  auto it = status.is_object() ? status.find("classification") : status.end();
  return it != status.end() && it->is_string() ? it->get<std::string>() : "Unknown";
}

nlohmann::json desiredStatus(const nlohmann::json& currentStatus, const PolicyObservation& seen,
                             const std::string& now) {
  nlohmann::json status = currentStatus.is_object() ? currentStatus : nlohmann::json::object();
  auto conditions = conditionsFromJson(status.value("conditions", nlohmann::json::array()));
  const int64_t g = seen.generation;

  status["observedGeneration"] = g;
  status["effectiveNoProxy"] = seen.effectiveNoProxy;
  status["warnings"] = seen.warnings;
  if (seen.injection) {
    const auto& injection = *seen.injection;
    for (const auto& w : injection.warnings) status["warnings"].push_back(w);
    status["injectedPods"] = injection.injectedPods;
    status["stalePods"] = injection.stalePods;
    if (injection.caBundleHash.empty()) {
      status.erase("caBundleHash");
    } else {
      status["caBundleHash"] = injection.caBundleHash;
    }
    setStatusCondition(conditions, injectionCondition(injection, g), now);
  }

  if (!seen.specValid) {
    setStatusCondition(conditions,
                       condition("SpecValid", false, seen.specReason, seen.specMessage, g), now);
    setStatusCondition(
        conditions,
        unknown("InjectionReady", "NotEvaluated",
                "Injection is not evaluated while the spec is invalid: " + seen.specMessage, g),
        now);
    for (const char* type : {"ProxyReachable", "TLSIntercepted", "GRPCSupported"}) {
      setStatusCondition(
          conditions,
          unknown(type, "NotProbed", "The targets are not probed while the spec is invalid.", g),
          now);
    }
    setStatusCondition(conditions, condition("Ready", false, seen.specReason, seen.specMessage, g),
                       now);
    status["classification"] = "Unknown";
    status["targets"] = nlohmann::json::array();
    status.erase("proxyServer");
  } else {
    setStatusCondition(conditions,
                       condition("SpecValid", true, "Valid",
                                 "The spec is valid and every object it references was found.", g),
                       now);
    if (seen.probe) {
      for (auto& c : probeConditions(*seen.probe, g)) setStatusCondition(conditions, c, now);
      auto report = nlohmann::json::parse(probe::toJson(*seen.probe));
      status["classification"] = report["classification"];
      status["targets"] = report["targets"];
      // Per runtime, compact for kubectl describe: a one-line summary, and messages only where
      // an agent does not get through.
      for (auto& target : status["targets"]) {
        if (!target.contains("runtimes")) continue;
        std::string summary;
        for (auto& r : target["runtimes"]) {
          std::string result = r.value("result", "");
          summary += (summary.empty() ? "" : ", ") + r.value("runtime", "") + " " + result;
          if (result != "Supported") summary += " (" + r.value("reason", "") + ")";
          if (result == "Supported") r.erase("message");
        }
        target["runtimeSummary"] = summary;
      }
      if (seen.probe->proxyServer.empty()) {
        status.erase("proxyServer");
      } else {
        status["proxyServer"] = seen.probe->proxyServer;
      }
    }
  }
  status["conditions"] = conditionsToJson(conditions);
  return status;
}

}  // namespace agentproxy::controller
