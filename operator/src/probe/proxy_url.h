// Parsing of the user-supplied proxy URL and target address.
//
// Guarantees: a parsed ProxyUrl has scheme http or https, a non-empty host and a port in
// 1..65535; userinfo is percent-decoded. Errors are InputError with a message that names the
// bad part but never contains the password.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace agentproxy::probe {

// Bad user input (a flag, a URL, a PEM file). The message is one line meant for a person.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ProxyUrl {
  std::string scheme;  // "http" or "https"
  std::string host;    // without IPv6 brackets
  uint16_t port = 0;
  std::string username;  // percent-decoded
  std::string password;  // percent-decoded; never print it

  bool tls() const { return scheme == "https"; }
  bool hasCredentials() const { return !username.empty() || !password.empty(); }
  // host:port with brackets around IPv6 literals.
  std::string hostPort() const;
  // The URL as safe to show: credentials replaced by "***".
  std::string redacted() const;
  // The URL with percent-encoded credentials, for clients that take a URL (gRPC's
  // grpc.http_proxy channel argument). Contains the password: never log it.
  std::string withCredentials() const;
};

struct TargetAddress {
  std::string host;  // without IPv6 brackets
  uint16_t port = 0;
  std::string hostPort() const;
};

// Parses http://[user[:password]@]host[:port][/]. The default port is 80 for http and 443 for
// https, as curl does. Throws InputError.
ProxyUrl parseProxyUrl(std::string_view url);

// Parses host:port or [v6]:port; the port is required. Throws InputError.
TargetAddress parseTargetAddress(std::string_view address);

bool isIpLiteral(std::string_view host);

}  // namespace agentproxy::probe
