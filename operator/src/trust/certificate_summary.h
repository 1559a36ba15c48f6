// What the CA bundle needs to know of a certificate (its length, subject and expiry), read from
// its DER without decoding its public key. Internal to agentproxy::trust.
//
// Why not d2i_X509: OpenSSL 3.0 decodes the subjectPublicKeyInfo of every certificate it parses
// through its provider decoder framework, which costs about 0.25 ms per certificate, three
// quarters of the parse: 35-70 ms for Debian's 145 system CAs. This parse checks the whole
// RFC 5280 structure (tbsCertificate with version, serial, algorithms, names, validity,
// subjectPublicKeyInfo as algorithm + bit string, unique IDs, extensions; signature algorithm
// and value) with OpenSSL's ASN.1 templates, and leaves the key bits to the TLS stacks that use
// them.
// Guarantees: pure; never throws; the DER is the caller's, nothing is copied but the summary.
#pragma once

#include <chrono>
#include <cstddef>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace agentproxy::trust::detail {

struct CertificateSummary {
  size_t length = 0;    // bytes at the start of the DER that hold the certificate
  std::string subject;  // RFC 2253, UTF-8: "CN=Corp Proxy CA,O=Corp"
  std::chrono::system_clock::time_point notAfter;
  bool expired = false;  // notAfter before `now`
};

// The certificate at the start of `der` (anything after it is the caller's business), or
// nullopt when it is not an X.509 certificate.
std::optional<CertificateSummary> summarizeCertificate(std::string_view der, std::time_t now);

}  // namespace agentproxy::trust::detail
