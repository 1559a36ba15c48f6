#include "serving/listen_address.h"

#include <charconv>
#include <stdexcept>
#include <string_view>

namespace agentproxy::serving {

ListenAddress parseListenAddress(const std::string& address, const std::string& what) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) {
    throw std::invalid_argument(what + " address \"" + address +
                                "\" must be host:port, [ipv6]:port or :port");
  }
  ListenAddress parsed;
  parsed.host = address.substr(0, colon);
  if (parsed.host.size() >= 2 && parsed.host.front() == '[' && parsed.host.back() == ']') {
    parsed.host = parsed.host.substr(1, parsed.host.size() - 2);
  } else if (parsed.host.find_first_of("[]:") != std::string::npos) {
    throw std::invalid_argument(what + " address \"" + address +
                                "\": write an IPv6 host in brackets, [::1]:" +
                                address.substr(colon + 1));
  }
  std::string_view port = std::string_view(address).substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    throw std::invalid_argument(what + " address \"" + address + "\" has a bad port");
  }
  parsed.port = static_cast<uint16_t>(value);
  return parsed;
}

}  // namespace agentproxy::serving
