#include "serving/http_endpoints.h"

#include <cpprest/http_listener.h>

#include <charconv>
#include <stdexcept>

namespace agentproxy::serving {

using web::http::http_request;
using web::http::methods;
using web::http::status_codes;

std::string listenUri(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) {
    throw std::invalid_argument("address \"" + address + "\" must be host:port or :port");
  }
  std::string host = address.substr(0, colon);
  std::string port = address.substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 ||
      value > 65535) {
    throw std::invalid_argument("address \"" + address + "\" has a bad port");
  }
  return "http://" + (host.empty() ? std::string("0.0.0.0") : host) + ":" + port;
}

struct HttpEndpoints::Impl {
  std::unique_ptr<web::http::experimental::listener::http_listener> listener;
  std::map<std::string, Handler> routes;
};

HttpEndpoints::HttpEndpoints(const std::string& address, std::map<std::string, Handler> routes)
    : impl_(std::make_unique<Impl>()) {
  impl_->routes = std::move(routes);
  impl_->listener =
      std::make_unique<web::http::experimental::listener::http_listener>(listenUri(address));
  impl_->listener->support([impl = impl_.get()](http_request request) {
    auto path = web::uri::decode(request.relative_uri().path());
    auto route = impl->routes.find(path);
    if (route == impl->routes.end()) {
      request.reply(status_codes::NotFound, "not found\n");
      return;
    }
    if (request.method() != methods::GET && request.method() != methods::HEAD) {
      request.reply(status_codes::MethodNotAllowed, "method not allowed\n");
      return;
    }
    HttpResponse response;
    try {
      response = route->second();
    } catch (const std::exception& e) {
      response = {500, "text/plain; charset=utf-8", std::string(e.what()) + "\n"};
    }
    request.reply(static_cast<web::http::status_code>(response.status), response.body,
                  response.contentType);
  });
  try {
    impl_->listener->open().wait();
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot listen on " + address + ": " + e.what());
  }
}

HttpEndpoints::~HttpEndpoints() {
  try {
    impl_->listener->close().wait();
  } catch (const std::exception&) {
    // closing at shutdown: nothing left to tell anyone
  }
}

}  // namespace agentproxy::serving
