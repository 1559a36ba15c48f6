// What a probe found, per target and for the whole call: plain structs shared by the probe
// engine, the classifier, the CLI and (later) the controller's status. No I/O here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agentproxy::probe {

enum class Classification { Supported, Warn, Unsupported, Unknown };
enum class TunnelState {
  Established,
  Refused,
  AuthRequired,
  TargetUnreachable,
  ProxyUnreachable,
  Timeout
};
enum class WebSocketState { Available, Unavailable, NotProbed };

std::string_view toString(Classification c);
std::string_view toString(TunnelState t);
std::string_view toString(WebSocketState w);

// Supported < Warn < Unsupported; Unknown ranks with Unsupported (nothing was proven).
int severity(Classification c);
Classification worst(Classification a, Classification b);

// Where a probe gave up: the step matters for the message ("timed out during the TLS
// handshake").
enum class ProbeStep { ProxyResolve, ProxyConnect, ProxyTls, Connect, TargetTls, Grpc, Done };
std::string_view describe(ProbeStep s);

struct Timings {
  std::optional<int64_t> connectMs, tunnelMs, tlsMs, grpcMs;
};

// Whether an agent of one runtime gets through (probe/runtime_verdict.h).
struct RuntimeVerdict {
  std::string runtime;  // grpc-core, go, jvm, node, dotnet
  Classification result = Classification::Unknown;
  std::string reason;   // CamelCase
  std::string message;  // cause and remedy
};

// Everything observed for one target. The probe engine fills the observations; classify()
// derives classification and message from them.
struct TargetReport {
  std::string address;     // host:port as given
  std::string serverName;  // SNI / verification name used

  // Tunnel (steps 1-2).
  TunnelState tunnel = TunnelState::ProxyUnreachable;
  ProbeStep failedStep = ProbeStep::Done;  // where the raw probe stopped, Done when it did not
  std::string failure;                     // what went wrong there, for the message
  int connectStatus = 0;                   // the CONNECT answer's status code, 0 if none
  std::string connectReason;               // its reason phrase
  std::string squidError;                  // X-Squid-Error, when present
  std::string proxyServer;                 // fingerprint seen for this target

  // TLS inside the tunnel (step 3).
  bool tlsHandshakeDone = false;
  bool tlsIntercepted = false;
  bool interceptorTrusted = false;
  std::string interceptorIssuer;  // issuer DN of the top of the presented chain
  // Why the presented certificate does not verify for serverName against the target's roots,
  // in words ("certificate signed by an unknown authority (CN=...)"); not in the JSON report.
  std::string certificateProblem;
  bool certificateForOtherName = false;  // the chain verifies, but for another name
  std::string alpn;               // negotiated; empty when none was selected

  // gRPC (step 4): "OK" or "CODE: message"; empty when not attempted.
  std::string grpc;
  bool grpcWorks = false;

  // WebSocket fallback (step 5).
  WebSocketState websocketFallback = WebSocketState::NotProbed;
  std::string websocketDetail;  // e.g. "400 Bad Request" when Unavailable

  Timings timings;
  std::string lastProbeTime;  // RFC 3339, UTC

  // Derived by classify().
  Classification classification = Classification::Unknown;
  std::string reason;  // CamelCase cause (conditions); not part of the JSON report
  std::string message;
  // Per agent runtime, when asked for (applyRuntimeVerdicts); "runtimes" in the JSON report.
  std::vector<RuntimeVerdict> runtimes;
};

struct ProbeReport {
  std::string proxy;        // redacted URL
  std::string proxyServer;  // first fingerprint any target saw
  Classification classification = Classification::Unknown;
  std::vector<std::string> warnings;
  std::vector<TargetReport> targets;
};

// The JSON report of DESIGN.md: {"proxy", "proxyServer", "classification", "warnings",
// "targets": [...]}, each target with the fields of status.targets[].
std::string toJson(const ProbeReport& report, int indent = 2);

// A table for people: one block per target with classification, cause and remedy.
std::string toText(const ProbeReport& report);

// Exit code of `agentproxy probe`: 0 all Supported, 1 worst Warn, 2 any Unsupported/Unknown.
int exitCodeFor(Classification worstClassification);

}  // namespace agentproxy::probe
