#include "serving/tcp_listener.h"

#include <boost/asio/ip/v6_only.hpp>
#include <stdexcept>
#include <vector>

#include "serving/listen_address.h"

namespace agentproxy::serving {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;

// Where to try to listen, best first: all interfaces means dual-stack IPv6 when the kernel has
// IPv6, else IPv4.
std::vector<tcp::endpoint> listenEndpoints(const ListenAddress& address,
                                           const std::string& original, asio::io_context& io) {
  if (address.host.empty()) {
    return {tcp::endpoint(asio::ip::address_v6::any(), address.port),
            tcp::endpoint(asio::ip::address_v4::any(), address.port)};
  }
  ErrorCode ec;
  auto ip = asio::ip::make_address(address.host, ec);
  if (!ec) return {tcp::endpoint(ip, address.port)};
  tcp::resolver resolver(io);
  auto results = resolver.resolve(address.host, std::to_string(address.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    throw std::runtime_error("cannot listen on " + original + ": cannot resolve " + address.host +
                             (ec ? ": " + ec.message() : ""));
  }
  std::vector<tcp::endpoint> endpoints;
  for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  return endpoints;
}

}  // namespace

std::unique_ptr<tcp::acceptor> listenOn(const std::string& address, const std::string& what,
                                        asio::io_context& io) {
  ListenAddress parsed = parseListenAddress(address, what);
  ErrorCode ec;
  for (const tcp::endpoint& endpoint : listenEndpoints(parsed, address, io)) {
    auto acceptor = std::make_unique<tcp::acceptor>(io);
    ec = {};
    acceptor->open(endpoint.protocol(), ec);
    if (!ec && endpoint.address().is_v6() && parsed.host.empty()) {
      acceptor->set_option(asio::ip::v6_only(false), ec);
    }
    if (!ec) acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor->bind(endpoint, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) return acceptor;
  }
  throw std::runtime_error("cannot listen on " + address + ": " + ec.message());
}

}  // namespace agentproxy::serving
