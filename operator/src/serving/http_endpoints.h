// Small plain-HTTP endpoints the operator serves: /healthz, /readyz, /metrics.
//
// Guarantees: listens on the given address until destroyed; GET of a registered path calls
// its handler on cpprestsdk's pool (handlers must be thread-safe and quick); any other path or
// method gets 404 or 405. cpprestsdk stays behind this header.
#pragma once

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

  // `address` is host:port or :port (all interfaces). Throws std::runtime_error naming the
  // address when it cannot listen, std::invalid_argument when the address is malformed.
  HttpEndpoints(const std::string& address, std::map<std::string, Handler> routes);
  ~HttpEndpoints();
  HttpEndpoints(const HttpEndpoints&) = delete;
  HttpEndpoints& operator=(const HttpEndpoints&) = delete;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ":8080" -> "http://0.0.0.0:8080"; "127.0.0.1:8080" -> "http://127.0.0.1:8080". Throws
// std::invalid_argument for anything else.
std::string listenUri(const std::string& address);

}  // namespace agentproxy::serving
