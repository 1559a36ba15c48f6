// Step 4 of the probe: a real gRPC call with gRPC C++ through the proxy. Internal; keeps
// gRPC's headers out of everything else.
#pragma once

#include <string>

#include "probe/proxy_url.h"
#include "probe/stream.h"

namespace agentproxy::probe {

struct GrpcCheckResult {
  bool works = false;  // OK, UNIMPLEMENTED, UNAUTHENTICATED or PERMISSION_DENIED
  std::string status;  // "OK" or "CODE: message"
  int64_t ms = 0;
};

// Calls grpc.health.v1.Health/Check on `target` through `proxyUrl` (an http:// URL; it may
// carry credentials), trusting rootsPem, verifying serverName. Never throws. With
// closeInBackground, it returns as soon as the call is over and a background thread closes
// the channel: for a process that exits right after its probe. Otherwise the channel is closed
// before it returns, so that a long-running process never accumulates them. An UNAVAILABLE
// call is tried once more on a new channel while the deadline allows, as an agent reconnects.
GrpcCheckResult checkGrpc(const std::string& proxyUrl, const TargetAddress& target,
                          const std::string& serverName, const std::string& rootsPem,
                          Deadline deadline, bool closeInBackground);

}  // namespace agentproxy::probe
