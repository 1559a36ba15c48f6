#include "probe/classify.h"

namespace agentproxy::probe {
namespace {

bool isSquid(const TargetReport& t) { return t.proxyServer.rfind("squid", 0) == 0; }

std::string who(const TargetReport& t) {
  return t.proxyServer.empty() ? "the proxy" : t.proxyServer;
}

std::string who(const TargetReport& t, const std::string& proxy) {
  return t.proxyServer.empty() ? "the proxy " + proxy : t.proxyServer + " at " + proxy;
}

std::string serverName(const TargetReport& t) {
  return t.serverName.empty() ? t.address : t.serverName;
}

std::string statusText(const TargetReport& t) {
  std::string s = std::to_string(t.connectStatus);
  if (!t.connectReason.empty()) s += " " + t.connectReason;
  if (!t.squidError.empty()) s += ", X-Squid-Error: " + t.squidError;
  return s;
}

bool contains(const std::string& text, const char* part) {
  return text.find(part) != std::string::npos;
}

// The gRPC outcome ("CODE: message") in words: what the code means for this call, with the
// library's text after it for whoever needs to dig.
std::string grpcInWords(const std::string& grpc) {
  std::string what;
  if (contains(grpc, "missing selected ALPN property")) {
    what = "the server's TLS selected no ALPN protocol, so the gRPC client gave up (it needs h2)";
  } else if (contains(grpc, "HTTP proxy returned response code")) {
    what = "the proxy refused the gRPC client's own CONNECT";
  } else if (contains(grpc, "Handshake failed") || contains(grpc, "SSL_ERROR") ||
             contains(grpc, "certificate verify failed")) {
    what = "the gRPC client's TLS handshake failed: it does not trust the server's certificate, "
           "or the certificate is for another name";
  } else if (grpc.rfind("UNAVAILABLE", 0) == 0) {
    what = "the gRPC client could not connect to the server, or lost the connection";
  } else if (grpc.rfind("DEADLINE_EXCEEDED", 0) == 0) {
    what = "the gRPC call did not finish before the probe's deadline";
  } else if (grpc.rfind("INTERNAL", 0) == 0) {
    what = "the gRPC client met something that is not gRPC over HTTP/2";
  } else if (grpc.rfind("UNKNOWN", 0) == 0) {
    what = "the server answered with an error the gRPC client could not read";
  } else if (grpc.rfind("CANCELLED", 0) == 0) {
    what = "the gRPC call was cancelled before it finished";
  } else if (grpc.rfind("RESOURCE_EXHAUSTED", 0) == 0) {
    what = "the server or a proxy limited the call (too large, or rate-limited)";
  }
  if (grpc.empty()) return "no answer";
  return what.empty() ? grpc : what + " (" + grpc + ")";
}

// How a message about gRPC failing ends: the WebSocket-over-HTTP/1.1 fallback as the other way
// out when it works or was not probed, or why it does not help either.
std::string fallbackTail(const TargetReport& t) {
  switch (t.websocketFallback) {
    case WebSocketState::Available:
      return ", or rely on the WebSocket fallback (available).";
    case WebSocketState::Unavailable: {
      std::string s =
          ". The WebSocket fallback is not available either (" + t.websocketDetail + ")";
      if (t.tlsIntercepted && isSquid(t)) {
        s += ": Squid strips WebSocket upgrades on bumped connections unless "
             "'http_upgrade_request_protocols websocket allow all' is set";
      }
      return s + ".";
    }
    case WebSocketState::NotProbed:
      break;
  }
  return ", or rely on the agent's WebSocket fallback (not probed: set websocketPath to check "
         "it).";
}

Verdict tunnelFailed(const TargetReport& t, const std::string& proxy) {
  const std::string target = t.address;
  switch (t.tunnel) {
    case TunnelState::ProxyUnreachable:
      return {Classification::Unsupported, "ProxyUnreachable",
              "Cannot reach the proxy " + proxy + " (" + t.failure +
                  "). Check the proxy address and port, and that the proxy runs and is "
                  "reachable from here."};
    case TunnelState::Timeout:
      if (t.failedStep == ProbeStep::ProxyResolve) {
        return {Classification::Unsupported, "ProbeTimeout",
                "The probe of " + target + " through " + proxy +
                    " timed out looking up the proxy's name: no DNS server answered in time. "
                    "Check that the DNS servers (/etc/resolv.conf; the cluster's DNS for the "
                    "operator's pod) answer for that name, or give the proxy as an IP address; "
                    "raise the probe timeout if DNS is slow."};
      }
      return {Classification::Unsupported, "ProbeTimeout",
              "The probe of " + target + " through " + proxy + " timed out " +
                  std::string(describe(t.failedStep)) + ". Check that " + proxy +
                  " is an HTTP proxy and that a firewall does not drop the traffic; raise the "
                  "probe timeout if the path is slow."};
    case TunnelState::AuthRequired:
      return {Classification::Unsupported, "AuthenticationRequired",
              who(t, proxy) + " requires authentication for CONNECT to " + target + " (" +
                  statusText(t) + "): " + t.failure +
                  ". Set the proxy credentials (credentialsSecretRef, or user:password in the "
                  "proxy URL) to an account the proxy accepts."};
    case TunnelState::TargetUnreachable:
      return {Classification::Unsupported, "TargetUnreachable",
              who(t, proxy) + " could not reach " + target + " (" + statusText(t) +
                  "). Check the target address and port, and that the proxy's network can "
                  "reach it."};
    case TunnelState::Refused:
      return {Classification::Unsupported, "ConnectRefused",
              who(t, proxy) + " refused CONNECT to " + target + " (" +
                  (t.connectStatus ? statusText(t) : t.failure) +
                  "). Allow CONNECT to this host and port in the proxy's policy" +
                  (isSquid(t) ? " (Squid: the SSL_ports and CONNECT ACLs before "
                                "'http_access deny CONNECT !SSL_ports')"
                              : "") +
                  "."};
    case TunnelState::Established:
      break;
  }
  return {Classification::Unknown, "Unknown", "The tunnel state is unknown."};
}

}  // namespace

Verdict classify(const TargetReport& t, const std::string& proxy) {
  if (t.tunnel != TunnelState::Established) return tunnelFailed(t, proxy);
  const std::string name = serverName(t);

  if (!t.tlsHandshakeDone) {
    return {Classification::Unsupported, "TLSHandshakeFailed",
            "The tunnel to " + t.address + " is open but the TLS handshake with " + name +
                " failed: " + t.failure + ". Check that the target serves TLS on this port; " +
                "if the proxy inspects TLS, exempt " + name + " from inspection."};
  }
  if (t.tlsIntercepted && !t.interceptorTrusted && t.certificateForOtherName) {
    return {Classification::Unsupported, "CertificateNameMismatch",
            "The certificate presented for " + name + " through " + who(t) +
                " comes from a CA the pods trust, but " + t.certificateProblem +
                ": the proxy intercepts TLS, or the server name is wrong. Agents verify the name "
                "and will refuse it. Check spec.targets[].serverName (--server-name), or exempt " +
                name + " from TLS inspection."};
  }
  if (t.tlsIntercepted && !t.interceptorTrusted) {
    return {Classification::Unsupported, "UntrustedInterceptor",
            who(t) + " intercepts TLS for " + name + " with a certificate issued by \"" +
                t.interceptorIssuer +
                "\", which the pods do not trust, so gRPC cannot verify the server. Add that "
                "CA to trust.caBundles (--trust-ca), or exempt " +
                name + " from TLS inspection."};
  }
  if (t.grpcWorks) {
    if (!t.tlsIntercepted) {
      return {Classification::Supported, "TunnelEndToEnd",
              "gRPC reaches " + name +
                  " through an end-to-end CONNECT tunnel (no TLS "
                  "interception; ALPN " +
                  t.alpn + ")."};
    }
    return {Classification::Warn, "InterceptedWithHTTP2",
            who(t) + " intercepts TLS for " + name + " (issuer \"" + t.interceptorIssuer +
                "\") and passes HTTP/2, so gRPC works while the pods trust that CA. Support for "
                "gRPC under TLS inspection varies by vendor and version; exempting " +
                name + " from inspection is the robust setup."};
  }
  // gRPC failed on an open tunnel with a handshake that we trust.
  if (t.tlsIntercepted && t.alpn != "h2") {
    std::string offered = t.alpn.empty() ? "offers no ALPN protocol" : "offers only " + t.alpn;
    if (isSquid(t)) {
      return {Classification::Unsupported, "InterceptedWithoutHTTP2",
              who(t) + " intercepts TLS for " + name + " and " + offered +
                  "; gRPC needs HTTP/2, which Squid does not do on bumped connections. Add "
                  "'ssl_bump splice' for this server name (acl mgmt ssl::server_name " +
                  name + " then ssl_bump splice mgmt, before the bump rule)" + fallbackTail(t)};
    }
    return {Classification::Unsupported, "InterceptedWithoutHTTP2",
            who(t) + " intercepts TLS for " + name + " and " + offered +
                "; gRPC needs HTTP/2. Exempt " + name +
                " from TLS inspection (or enable HTTP/2 inspection on the proxy)" +
                fallbackTail(t)};
  }
  if (t.alpn != "h2") {
    return {Classification::Unsupported, "NoHTTP2",
            "The tunnel to " + name + " is end to end but the server " +
                (t.alpn.empty() ? "selects no ALPN protocol" : "selects " + t.alpn) +
                ", not h2, and the gRPC call failed: " + grpcInWords(t.grpc) + ". Check that " +
                t.address +
                " is the gRPC endpoint."};
  }
  return {Classification::Unsupported, "GRPCCallFailed",
          "TLS and HTTP/2 reach " + name + (t.tlsIntercepted ? " through the interceptor" : "") +
              ", but the gRPC call failed: " + grpcInWords(t.grpc) + ". Check that " + t.address +
              " serves gRPC and that the CA given for it (serverCA / --target-ca) issued its "
              "certificate."};
}

void classifyReport(ProbeReport& report, const std::string& proxy) {
  report.classification =
      report.targets.empty() ? Classification::Unknown : Classification::Supported;
  for (auto& target : report.targets) {
    auto verdict = classify(target, proxy);
    target.classification = verdict.classification;
    target.reason = std::move(verdict.reason);
    target.message = std::move(verdict.message);
    report.classification = worst(report.classification, target.classification);
    if (report.proxyServer.empty()) report.proxyServer = target.proxyServer;
  }
}

}  // namespace agentproxy::probe
