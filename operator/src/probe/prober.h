// The probe engine: DESIGN.md "The probe, step by step", through a real proxy to real
// targets.
//
// Guarantees: runProbe() returns within request.timeout plus a few milliseconds whatever the
// network does; each target gets a classified TargetReport; the proxy password never appears
// in any report field. Assumes the caller validated the inputs (parseProxyUrl,
// parseTargetAddress, parseCertificateBundle).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "probe/proxy_url.h"
#include "probe/report.h"

namespace agentproxy::probe {

struct ProbeTarget {
  TargetAddress address;
  std::string serverName;     // SNI and verification name; default: the address's host
  std::string targetRootsPem; // who really issues the server's certificate; empty: system roots
  std::string websocketPath;  // empty: the WebSocket fallback is not probed
};

struct ProbeRequest {
  ProxyUrl proxy;
  std::vector<ProbeTarget> targets;
  std::string trustPem;  // CAs the agents trust besides the target's roots (interceptor CAs)
  std::chrono::milliseconds timeout{10000};
  int concurrency = 16;  // targets probed at once
  // The caller ends the process right after runProbe(): the gRPC channels still closing in
  // the background are left to the exit instead of awaited (agentproxy probe, main.cpp).
  bool processExitsAfter = false;
};

ProbeReport runProbe(const ProbeRequest& request);

// What agent runtimes will get wrong with this proxy URL (DESIGN.md's facts).
std::vector<std::string> proxyWarnings(const ProxyUrl& proxy);

}  // namespace agentproxy::probe
