// The error of agentproxy::trust: bad PEM, a certificate request that cannot be met, an OpenSSL
// failure.
//
// Guarantees: the message is one line for a person; it names the input (a CA source's origin,
// a DNS name) and what is wrong, and never contains key material or certificate text.
#pragma once

#include <stdexcept>

namespace agentproxy::trust {

class TrustError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace agentproxy::trust
