#include "probe/report.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include <sstream>

namespace agentproxy::probe {

std::string_view toString(Classification c) {
  switch (c) {
    case Classification::Supported: return "Supported";
    case Classification::Warn: return "Warn";
    case Classification::Unsupported: return "Unsupported";
    case Classification::Unknown: return "Unknown";
  }
  return "Unknown";
}

std::string_view toString(TunnelState t) {
  switch (t) {
    case TunnelState::Established: return "Established";
    case TunnelState::Refused: return "Refused";
    case TunnelState::AuthRequired: return "AuthRequired";
    case TunnelState::TargetUnreachable: return "TargetUnreachable";
    case TunnelState::ProxyUnreachable: return "ProxyUnreachable";
    case TunnelState::Timeout: return "Timeout";
  }
  return "ProxyUnreachable";
}

std::string_view toString(WebSocketState w) {
  switch (w) {
    case WebSocketState::Available: return "Available";
    case WebSocketState::Unavailable: return "Unavailable";
    case WebSocketState::NotProbed: return "NotProbed";
  }
  return "NotProbed";
}

std::string_view describe(ProbeStep s) {
  switch (s) {
    case ProbeStep::ProxyResolve: return "looking up the proxy's name";
    case ProbeStep::ProxyConnect: return "connecting to the proxy";
    case ProbeStep::ProxyTls: return "in the TLS handshake with the proxy";
    case ProbeStep::Connect: return "waiting for the proxy's answer to CONNECT";
    case ProbeStep::TargetTls: return "in the TLS handshake through the tunnel";
    case ProbeStep::Grpc: return "in the gRPC call";
    case ProbeStep::Done: return "after the probe";
  }
  return "";
}

int severity(Classification c) {
  switch (c) {
    case Classification::Supported: return 0;
    case Classification::Warn: return 1;
    case Classification::Unsupported:
    case Classification::Unknown: return 2;
  }
  return 2;
}

Classification worst(Classification a, Classification b) {
  if (severity(a) != severity(b)) return severity(a) > severity(b) ? a : b;
  return a == Classification::Unsupported || b == Classification::Unsupported
             ? Classification::Unsupported
             : a;
}

int exitCodeFor(Classification c) { return severity(c); }

namespace {

nlohmann::ordered_json targetJson(const TargetReport& t) {
  nlohmann::ordered_json timings = nlohmann::ordered_json::object();
  auto put = [&](const char* key, const std::optional<int64_t>& ms) {
    if (ms) timings[key] = *ms;
  };
  put("connectMs", t.timings.connectMs);
  put("tunnelMs", t.timings.tunnelMs);
  put("tlsMs", t.timings.tlsMs);
  put("grpcMs", t.timings.grpcMs);
  nlohmann::ordered_json j = {
      {"address", t.address},
      {"classification", toString(t.classification)},
      {"tunnel", toString(t.tunnel)},
      {"tlsIntercepted", t.tlsIntercepted},
      {"alpn", t.alpn},
      {"grpc", t.grpc},
      {"websocketFallback", toString(t.websocketFallback)},
      {"timings", timings},
      {"lastProbeTime", t.lastProbeTime},
      {"message", t.message},
  };
  if (!t.serverName.empty()) j["serverName"] = t.serverName;
  if (t.tlsIntercepted) j["interceptorIssuer"] = t.interceptorIssuer;
  if (!t.runtimes.empty()) {
    nlohmann::ordered_json runtimes = nlohmann::ordered_json::array();
    for (const auto& r : t.runtimes) {
      runtimes.push_back({{"runtime", r.runtime},
                          {"result", toString(r.result)},
                          {"reason", r.reason},
                          {"message", r.message}});
    }
    j["runtimes"] = runtimes;
  }
  return j;
}

}  // namespace

std::string toJson(const ProbeReport& report, int indent) {
  nlohmann::ordered_json targets = nlohmann::ordered_json::array();
  for (const auto& t : report.targets) targets.push_back(targetJson(t));
  nlohmann::ordered_json j = {
      {"proxy", report.proxy},
      {"proxyServer", report.proxyServer},
      {"classification", toString(report.classification)},
      {"warnings", report.warnings},
      {"targets", targets},
  };
  // Replace invalid UTF-8 (a proxy's header could carry anything) instead of throwing.
  return j.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string toText(const ProbeReport& report) {
  std::ostringstream out;
  out << "proxy " << report.proxy;
  if (!report.proxyServer.empty()) out << " (" << report.proxyServer << ")";
  out << ": " << toString(report.classification) << "\n";
  for (const auto& w : report.warnings) out << "  warning: " << w << "\n";
  for (const auto& t : report.targets) {
    out << "\n" << toString(t.classification) << "  " << t.address;
    if (!t.serverName.empty() && t.serverName != t.address) out << " (" << t.serverName << ")";
    out << "\n";
    out << "  tunnel " << toString(t.tunnel);
    if (t.tlsHandshakeDone) {
      out << " | tls " << (t.tlsIntercepted ? "intercepted by \"" + t.interceptorIssuer + "\""
                                            : std::string("end-to-end"))
          << " | alpn " << (t.alpn.empty() ? "none" : t.alpn);
    }
    if (!t.grpc.empty()) out << " | grpc " << t.grpc;
    if (t.websocketFallback != WebSocketState::NotProbed) {
      out << " | websocket " << toString(t.websocketFallback);
    }
    out << "\n  timings";
    auto put = [&](const char* name, const std::optional<int64_t>& ms) {
      if (ms) out << " " << name << "=" << *ms << "ms";
    };
    put("connect", t.timings.connectMs);
    put("tunnel", t.timings.tunnelMs);
    put("tls", t.timings.tlsMs);
    put("grpc", t.timings.grpcMs);
    out << "\n  " << t.message << "\n";
    if (!t.runtimes.empty()) {
      out << "  runtimes:\n";
      for (const auto& r : t.runtimes) {
        std::string runtime = r.runtime + ":";
        std::string result(toString(r.result));
        runtime.resize(std::max<size_t>(runtime.size(), 11), ' ');
        result.resize(std::max<size_t>(result.size(), 12), ' ');
        out << "    " << runtime << result << r.reason;
        if (r.result != Classification::Supported) out << ": " << r.message;
        out << "\n";
      }
    }
  }
  return out.str();
}

}  // namespace agentproxy::probe
