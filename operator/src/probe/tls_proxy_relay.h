// A loopback relay that lets gRPC C-core, which speaks only plain http:// to proxies, reach an
// https:// proxy: gRPC connects to 127.0.0.1:<port> as its proxy, and every byte (its CONNECT
// included) is carried over TLS to the real proxy. Internal to the probe.
//
// Guarantees: listens on 127.0.0.1 only; stops accepting and relaying at the deadline or on
// destruction, whichever comes first; the destructor joins every thread.
#pragma once

#include <memory>
#include <string>

#include "probe/proxy_url.h"
#include "probe/stream.h"

namespace agentproxy::probe {

class TlsProxyRelay {
 public:
  // rootsPem verifies the proxy's certificate (empty: system roots).
  TlsProxyRelay(const ProxyUrl& proxy, std::string rootsPem, Deadline deadline);
  ~TlsProxyRelay();
  TlsProxyRelay(const TlsProxyRelay&) = delete;
  TlsProxyRelay& operator=(const TlsProxyRelay&) = delete;

  // http://[user:password@]127.0.0.1:<port>: credentials pass through so that gRPC sends its
  // own Proxy-Authorization. Contains the password: never log it.
  std::string proxyUrl() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace agentproxy::probe
