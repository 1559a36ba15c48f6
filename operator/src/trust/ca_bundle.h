// The CA bundle the operator distributes to agent pods: the system CAs of the operator's image
// plus the CAs a ProxyPolicy lists in trust.caBundles (DESIGN.md "Injection"). Pure; OpenSSL
// stays in the .cpp files.
//
// Guarantees:
// - The bundle depends only on the set of certificates given: whitespace, comments, order and
//   duplicates in or across the inputs do not change a byte of it, so its hash
//   (status.caBundleHash, the pods' injection hash) changes only when the trusted set does.
// - Each certificate appears once (SHA-256 of its DER), as a canonical PEM block (64-column
//   base64 of the DER as given, LF line ends), ordered by subject DN, then by fingerprint.
// - Only certificates are copied: private keys and other PEM blocks next to a CA are ignored.
// - Errors are TrustError naming the source's origin and the problem, never its contents.
// - Safe to call from any thread (no global state; OpenSSL 3 is thread-safe).
// Assumptions: the system bundle is trusted input (the image's own file): its non-certificate
// blocks are skipped, but a CERTIFICATE block that does not parse is an error, not skipped.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "trust/trust_error.h"

namespace agentproxy::trust {

// One PEM text the policy names, e.g. a ConfigMap key.
struct CaSource {
  std::string origin;  // for people: "ConfigMap agentproxy-system/corp-ca key ca.crt"
  std::string pem;
};

struct CaBundle {
  std::string pem;          // canonical PEM; empty when there is no certificate at all
  std::string hash;         // "sha256:" + lowercase hex of the SHA-256 of `pem`
  size_t certificates = 0;  // distinct certificates in `pem`
  // One sentence per expired certificate from a policy source (notAfter before `now`), naming
  // its subject, its origins and the expiry (RFC 3339), in bundle order. Expired certificates
  // stay in the bundle (removing one is the user's call). Expired system CAs are not reported:
  // the user cannot act on them, and the image's next ca-certificates update removes them.
  std::vector<std::string> expired;
};

// Merges the system bundle (empty when includeSystemCAs is false) and the policy's sources.
// Throws TrustError when a source holds no certificate or a block that is not valid PEM or not
// an X.509 certificate, or when a CERTIFICATE block of the system bundle does not parse.
CaBundle mergeCaBundle(std::string_view systemPem, const std::vector<CaSource>& sources,
                       std::chrono::system_clock::time_point now);

// The certificates of one PEM text (a CA file, a ConfigMap key) as canonical PEM blocks, in the
// order given, duplicates kept: what the probe trusts. Throws TrustError as mergeCaBundle() does
// for a policy source.
std::string certificatesOf(std::string_view pem, std::string_view origin);

}  // namespace agentproxy::trust
