// Where a server listens, as the operator's flags say it: host:port, [ipv6]:port or :port (all
// interfaces: dual-stack IPv6 where the kernel has IPv6, else IPv4). One parser for the webhook
// and for the health and metrics endpoints.
#pragma once

#include <cstdint>
#include <string>

namespace agentproxy::serving {

struct ListenAddress {
  std::string host;  // empty: all interfaces; an IPv6 address without its brackets
  uint16_t port = 0; // 0: a free port
};

// Throws std::invalid_argument naming `what` ("webhook", "health") and the address, with what
// is wrong: no port, a bad port, an IPv6 host without brackets.
ListenAddress parseListenAddress(const std::string& address, const std::string& what);

}  // namespace agentproxy::serving
