// The proxy's answer to CONNECT: parsing, fingerprinting and what it means for the tunnel.
// Pure functions, no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "probe/report.h"

namespace agentproxy::probe {

struct HttpResponseHead {
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;  // in order, names as sent

  // Case-insensitive; the first value when repeated.
  std::optional<std::string> header(std::string_view name) const;
};

// Parses a status line and headers ending in an empty line (CRLF or bare LF). Throws
// std::invalid_argument naming what is wrong (not HTTP, bad status code, bad header line).
HttpResponseHead parseResponseHead(std::string_view raw);

// "squid/5.7", "tinyproxy/1.11.1", ... from Server, Proxy-agent, Via or X-Squid-Error;
// empty when the proxy shows nothing recognisable.
std::string fingerprint(const HttpResponseHead& head);

// What a CONNECT status means for the tunnel: 200-299 Established; 407, and the 401 some
// proxies send for wrong credentials, AuthRequired; 502/503/504 TargetUnreachable; anything
// else Refused.
TunnelState tunnelStateFor(int status);

}  // namespace agentproxy::probe
