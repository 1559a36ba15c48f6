#include "probe/prober.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <atomic>
#include <ctime>
#include <future>
#include <optional>
#include <thread>

#include "encoding/encoding.h"
#include "probe/classify.h"
#include "probe/connect_response.h"
#include "probe/grpc_check.h"
#include "probe/pem.h"
#include "probe/resolver.h"
#include "probe/safe_text.h"
#include "probe/stream.h"
#include "probe/tls_proxy_relay.h"

namespace agentproxy::probe {
namespace {

constexpr char kUserAgent[] = "agentproxy-probe/0.1";

std::string rfc3339Now() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string effectiveServerName(const ProbeTarget& target) {
  return target.serverName.empty() ? target.address.host : target.serverName;
}

// The Host header a client sends for https://name:port/ (the port only when not 443). Squid
// matches it against the server a bumped connection is pinned to.
std::string hostHeader(const std::string& name, uint16_t port) {
  std::string host = name.find(':') != std::string::npos ? "[" + name + "]" : name;
  return port == 443 ? host : host + ":" + std::to_string(port);
}

// SNI must be a host name, never an IP literal (RFC 6066).
std::string sniFor(const std::string& name) { return isIpLiteral(name) ? "" : name; }

// A connection to the proxy with CONNECT answered 2xx, or the report says why not.
struct Tunnel {
  std::unique_ptr<TcpStream> tcp;
  std::unique_ptr<TlsStream> proxyTls;
  Stream* stream = nullptr;
};

class TunnelOpener {
 public:
  TunnelOpener(const ProbeRequest& request, std::string proxyRootsPem)
      : request_(request), proxyRootsPem_(std::move(proxyRootsPem)) {}

  // Steps 1 and 2. With `report` set, records what happened in it; otherwise failures only
  // make the result empty (used for the WebSocket probe's second tunnel).
  std::optional<Tunnel> open(const ProbeTarget& target, Deadline deadline,
                             TargetReport* report) const {
    const ProxyUrl& proxy = request_.proxy;
    Tunnel tunnel;
    ProbeStep step = ProbeStep::ProxyConnect;
    auto fail = [&](TunnelState state, const std::string& why) {
      if (report) {
        report->tunnel = state;
        report->failedStep = step;
        report->failure = safeText(why);
      }
      return std::nullopt;
    };
    try {
      auto start = Clock::now();
      tunnel = connectToProxy(deadline, step);
      if (report) report->timings.connectMs = elapsedMs(start);

      step = ProbeStep::Connect;
      start = Clock::now();
      const std::string authority = target.address.hostPort();
      std::string connect = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority +
                            "\r\nUser-Agent: " + kUserAgent + "\r\n";
      if (proxy.hasCredentials()) {
        connect += "Proxy-Authorization: Basic " + encoding::base64Encode(proxy.username + ":" + proxy.password) +
                   "\r\n";
      }
      connect += "\r\n";
      tunnel.stream->writeAll(connect, deadline);
      HttpResponseHead head;
      try {
        head = parseResponseHead(readResponseHead(*tunnel.stream, deadline));
      } catch (const std::invalid_argument& e) {
        return fail(TunnelState::Refused, e.what());
      }
      if (report) {
        report->timings.tunnelMs = elapsedMs(start);
        report->connectStatus = head.status;
        report->connectReason = head.reason;
        report->squidError = head.header("X-Squid-Error").value_or("");
        report->proxyServer = fingerprint(head);
        report->tunnel = tunnelStateFor(head.status);
      }
      if (tunnelStateFor(head.status) != TunnelState::Established) {
        if (report) {
          report->failedStep = step;
          if (report->tunnel == TunnelState::AuthRequired) {
            report->failure = proxy.hasCredentials() ? "the proxy rejected the credentials"
                                                     : "no credentials were given";
          }
        }
        return std::nullopt;
      }
      return tunnel;
    } catch (const TimeoutError& e) {
      return fail(TunnelState::Timeout, e.what());
    } catch (const IoError& e) {
      // A proxy that closes or resets the connection after accepting it refuses the tunnel;
      // one we cannot connect to at all is unreachable.
      return fail(step == ProbeStep::Connect ? TunnelState::Refused : TunnelState::ProxyUnreachable,
                  e.what());
    }
  }

  // Proxies that show nothing in their CONNECT answer (Squid) show themselves in answers to
  // requests they handle. An OPTIONS request with Max-Forwards: 0 sent to the proxy itself,
  // not through a tunnel, is answered by the proxy (RFC 9110, 7.6.2) and reaches no target.
  // Best effort, within a short budget.
  std::string fingerprintProxy(Deadline deadline) const {
    deadline = std::min(deadline, Clock::now() + std::chrono::seconds(1));
    try {
      ProbeStep step = ProbeStep::ProxyConnect;
      auto conn = connectToProxy(deadline, step);
      conn.stream->writeAll("OPTIONS * HTTP/1.1\r\nHost: " + request_.proxy.hostPort() +
                                "\r\nUser-Agent: " + kUserAgent +
                                "\r\nMax-Forwards: 0\r\nConnection: close\r\n\r\n",
                            deadline);
      return fingerprint(parseResponseHead(readResponseHead(*conn.stream, deadline)));
    } catch (const std::exception&) {
      return {};  // the classification does not depend on it
    }
  }

 private:
  // Step 1: TCP to the proxy, and TLS for an https:// proxy; `step` tracks how far it got.
  Tunnel connectToProxy(Deadline deadline, ProbeStep& step) const {
    const ProxyUrl& proxy = request_.proxy;
    Tunnel tunnel;
    step = ProbeStep::ProxyResolve;
    auto addresses = resolveHost(proxy.host, proxy.port, deadline);
    step = ProbeStep::ProxyConnect;
    tunnel.tcp = TcpStream::connect(addresses, proxy.host, proxy.port, deadline);
    tunnel.stream = tunnel.tcp.get();
    if (proxy.tls()) {
      step = ProbeStep::ProxyTls;
      tunnel.proxyTls = std::make_unique<TlsStream>(
          *tunnel.tcp, TlsClientOptions{sniFor(proxy.host), {"http/1.1"}}, deadline);
      std::string why;
      if (!tunnel.proxyTls->verifies(proxyRootsPem_, proxy.host, &why)) {
        throw IoError("the proxy's TLS certificate does not verify: " + why);
      }
      tunnel.stream = tunnel.proxyTls.get();
    }
    return tunnel;
  }

  const ProbeRequest& request_;
  std::string proxyRootsPem_;
};

std::string websocketAccept(const std::string& key) {
  std::string input = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  return encoding::base64Encode(std::string_view(reinterpret_cast<char*>(digest), sizeof digest));
}

// Step 5: an HTTP/1.1 WebSocket upgrade through a second tunnel.
void probeWebSocket(const TunnelOpener& opener, const ProbeTarget& target,
                    const std::string& name, Deadline deadline, TargetReport& report) {
  auto tunnel = opener.open(target, deadline, nullptr);
  if (!tunnel) {
    report.websocketFallback = WebSocketState::Unavailable;
    report.websocketDetail = "the tunnel for the upgrade could not be opened";
    return;
  }
  try {
    TlsStream tls(*tunnel->stream, TlsClientOptions{sniFor(name), {"http/1.1"}}, deadline);
    unsigned char nonce[16];
    RAND_bytes(nonce, sizeof nonce);
    std::string key = encoding::base64Encode(std::string_view(reinterpret_cast<char*>(nonce), sizeof nonce));
    tls.writeAll("GET " + target.websocketPath + " HTTP/1.1\r\nHost: " +
                     hostHeader(name, target.address.port) +
                     "\r\nUser-Agent: " + kUserAgent +
                     "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
                     key + "\r\nSec-WebSocket-Version: 13\r\n\r\n",
                 deadline);
    auto head = parseResponseHead(readResponseHead(tls, deadline));
    if (head.status != 101) {
      report.websocketFallback = WebSocketState::Unavailable;
      report.websocketDetail = std::to_string(head.status) + " " + head.reason;
      return;
    }
    if (head.header("Sec-WebSocket-Accept").value_or("") != websocketAccept(key)) {
      report.websocketFallback = WebSocketState::Unavailable;
      report.websocketDetail = "101 with a wrong Sec-WebSocket-Accept";
      return;
    }
    report.websocketFallback = WebSocketState::Available;
  } catch (const std::exception& e) {
    report.websocketFallback = WebSocketState::Unavailable;
    report.websocketDetail = safeText(e.what());
  }
}

class TargetProber {
 public:
  TargetProber(const ProbeRequest& request, std::string proxyRootsPem, std::string grpcProxyUrl)
      : request_(request), opener_(request, std::move(proxyRootsPem)),
        grpcProxyUrl_(std::move(grpcProxyUrl)) {}

  TargetReport probe(const ProbeTarget& target, Deadline deadline) const {
    TargetReport report;
    report.address = target.address.hostPort();
    report.serverName = target.serverName;
    const std::string name = effectiveServerName(target);
    const std::string targetRoots = target.targetRootsPem;

    // The gRPC call and the WebSocket upgrade use connections of their own, so they run
    // alongside the raw probe: a probe costs about one round of handshakes, not three.
    // No explicit roots at all: gRPC's default roots, which main() points at the system
    // bundle, are parsed once per process instead of once per channel.
    std::string grpcRoots =
        targetRoots.empty() && request_.trustPem.empty()
            ? std::string()
            : (targetRoots.empty() ? systemRootsPem() : targetRoots) + "\n" + request_.trustPem;
    auto grpcResult = std::async(std::launch::async, [&] {
      return checkGrpc(grpcProxyUrl_, target.address, name, grpcRoots, deadline,
                       request_.processExitsAfter);
    });
    std::future<void> websocket;
    TargetReport wsReport;
    if (!target.websocketPath.empty()) {
      websocket = std::async(std::launch::async, [&] {
        probeWebSocket(opener_, target, name, deadline, wsReport);
      });
    }

    probeTunnelAndTls(target, name, deadline, report);

    auto grpc = grpcResult.get();
    if (report.tunnel == TunnelState::Established && report.tlsHandshakeDone) {
      report.grpc = safeText(grpc.status);
      report.grpcWorks = grpc.works;
      report.timings.grpcMs = grpc.ms;
    }
    if (websocket.valid()) {
      websocket.get();
      report.websocketFallback = wsReport.websocketFallback;
      report.websocketDetail = wsReport.websocketDetail;
    }
    report.lastProbeTime = rfc3339Now();
    return report;
  }

 private:
  // Steps 1-3.
  void probeTunnelAndTls(const ProbeTarget& target, const std::string& name, Deadline deadline,
                         TargetReport& report) const {
    auto tunnel = opener_.open(target, deadline, &report);
    if (!tunnel) return;
    try {
      auto start = Clock::now();
      TlsStream tls(*tunnel->stream, TlsClientOptions{sniFor(name), {"h2", "http/1.1"}},
                    deadline);
      report.timings.tlsMs = elapsedMs(start);
      report.tlsHandshakeDone = true;
      report.alpn = tls.alpn();
      // Judged as the agents judge it: the chain and the server name. A valid chain for
      // another name is what an interceptor that forges certificates from a real CA, or one
      // that answers with its own site's certificate, presents.
      std::string problem;
      report.tlsIntercepted = !tls.verifies(target.targetRootsPem, name, &problem);
      if (report.tlsIntercepted) {
        report.certificateProblem = safeText(problem);
        report.certificateForOtherName = tls.verifies(target.targetRootsPem, "");
        report.interceptorIssuer = safeText(tls.topIssuer());
        report.interceptorTrusted =
            !request_.trustPem.empty() && tls.verifies(request_.trustPem, name);
        if (report.proxyServer.empty()) report.proxyServer = opener_.fingerprintProxy(deadline);
      }
    } catch (const TimeoutError& e) {
      report.failedStep = ProbeStep::TargetTls;
      report.failure = safeText(e.what());
    } catch (const IoError& e) {
      report.failedStep = ProbeStep::TargetTls;
      report.failure = safeText(e.what());
    }
  }

  const ProbeRequest& request_;
  TunnelOpener opener_;
  std::string grpcProxyUrl_;
};

}  // namespace

std::vector<std::string> proxyWarnings(const ProxyUrl& proxy) {
  std::vector<std::string> warnings;
  if (proxy.tls()) {
    warnings.push_back(
        "the proxy URL is https://: gRPC C-core clients (C++, Python, Ruby, PHP) ignore "
        "https:// proxies and connect directly; give them an http:// proxy URL "
        "(Go and curl use https:// proxies)");
  }
  return warnings;
}

ProbeReport runProbe(const ProbeRequest& request) {
  const Deadline deadline = Clock::now() + request.timeout;
  ProbeReport report;
  report.proxy = request.proxy.redacted();
  report.warnings = proxyWarnings(request.proxy);
  report.targets.resize(request.targets.size());

  std::string proxyRoots =
      request.proxy.tls() && !request.trustPem.empty() ? systemRootsPem() + "\n" + request.trustPem
                                                       : "";
  // gRPC C-core speaks only http:// to proxies; for an https:// proxy its traffic goes through
  // a loopback relay that adds the TLS layer, so the call still crosses the declared proxy.
  std::unique_ptr<TlsProxyRelay> relay;
  std::string grpcProxyUrl = request.proxy.withCredentials();
  if (request.proxy.tls()) {
    relay = std::make_unique<TlsProxyRelay>(request.proxy, proxyRoots, deadline);
    grpcProxyUrl = relay->proxyUrl();
  }
  TargetProber prober(request, proxyRoots, grpcProxyUrl);

  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < request.targets.size(); i = next++) {
      report.targets[i] = prober.probe(request.targets[i], deadline);
    }
  };
  size_t workers = std::min<size_t>(std::max(1, request.concurrency), request.targets.size());
  std::vector<std::thread> threads;
  for (size_t i = 1; i < workers; ++i) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();

  classifyReport(report, request.proxy.hostPort());
  return report;
}

}  // namespace agentproxy::probe
