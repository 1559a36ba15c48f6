// A listening socket for a parsed ListenAddress (listen_address.h). Includes Boost.Asio: only
// for the servers' own .cpp files, never for a widely included header.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

namespace agentproxy::serving {

// Listens on `address` (listen_address.h syntax). All interfaces is one dual-stack IPv6 socket
// (v6_only off) when the kernel has IPv6, else IPv4. Throws std::invalid_argument for a
// malformed address, std::runtime_error naming the address when it cannot listen.
std::unique_ptr<boost::asio::ip::tcp::acceptor> listenOn(const std::string& address,
                                                         const std::string& what,
                                                         boost::asio::io_context& io);

}  // namespace agentproxy::serving
