// Host names to socket addresses with a deadline, through c-ares (which gRPC links already).
//
// Guarantees: resolveHost() returns or throws by the deadline (plus one poll slice); when it
// throws, the lookup is cancelled and its sockets closed: no thread, no memory and no socket is
// left behind. IP literals are converted without a lookup. /etc/hosts is read as the system's
// resolver does. Failures say what happened ("the name x.example does not resolve (no such
// host)"). Internal to the probe.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "probe/stream.h"

namespace agentproxy::probe {

struct ResolvedAddress {
  sockaddr_storage address{};
  socklen_t length = 0;
  int family = 0;
};

struct ResolverOptions {
  // "127.0.0.1:5353,[::1]:53": the DNS servers to ask instead of /etc/resolv.conf's (tests).
  std::string servers;
};

// Throws TimeoutError at the deadline, IoError when the name does not resolve.
std::vector<ResolvedAddress> resolveHost(const std::string& host, uint16_t port,
                                         Deadline deadline, const ResolverOptions& options = {});

}  // namespace agentproxy::probe
