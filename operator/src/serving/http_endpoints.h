// Small plain-HTTP endpoints the operator serves: /healthz, /readyz, /metrics.
//
// Guarantees: listens on the given address until destroyed (host:port, [ipv6]:port, or :port
// for all interfaces, dual-stack IPv6 where the kernel has it, as the webhook does); GET (or
// HEAD) of a registered path calls its handler on the endpoints' own thread (handlers must be
// thread-safe and quick); any other path or method gets 404 or 405. A client that sends nothing
// is closed after a few seconds, so no silent connection holds the thread. Boost.Beast stays
// behind this header.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace agentproxy::serving {

struct HttpResponse {
  int status = 200;
  std::string contentType = "text/plain; charset=utf-8";
  std::string body;
};

class HttpEndpoints {
 public:
  using Handler = std::function<HttpResponse()>;

  // Throws std::runtime_error naming the address when it cannot listen, std::invalid_argument
  // when the address is malformed. Port 0 picks a free port (port()).
  HttpEndpoints(const std::string& address, std::map<std::string, Handler> routes);
  ~HttpEndpoints();
  HttpEndpoints(const HttpEndpoints&) = delete;
  HttpEndpoints& operator=(const HttpEndpoints&) = delete;

  uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace agentproxy::serving
