// The CA bundle as a Java truststore: the PKCS12 the operator keeps beside the PEM in the CA
// ConfigMap (binaryData), for -Djavax.net.ssl.trustStore (DESIGN.md "Injection"). Pure;
// OpenSSL stays in the .cpp file.
//
// Guarantees:
// - One certificate bag per certificate of the PEM, in the bundle's order, each with the
//   attribute the JDK needs to take a certificate-only entry as a trusted CA (Oracle's
//   trusted-key-usage, OID 2.16.840.1.113894.746875.1.1, value anyExtendedKeyUsage: what
//   keytool writes and `openssl pkcs12 -export -jdktrust anyExtendedKeyUsage -nokeys` does from
//   OpenSSL 3.2) and a friendlyName (the JDK's alias) "agentproxy-ca-N".
// - No password: no MAC and no encrypted bag, so the JVM loads it without
//   javax.net.ssl.trustStorePassword. It holds public certificates only.
// - Deterministic: the same PEM gives the same bytes (no salt, no random IV), so the copy's
//   content hash changes only when the bundle does.
// Throws TrustError when the PEM holds no certificate or a certificate block does not parse.
#pragma once

#include <string>
#include <string_view>

#include "trust/trust_error.h"

namespace agentproxy::trust {

inline constexpr std::string_view kJdkTrustedKeyUsageOid = "2.16.840.1.113894.746875.1.1";

std::string pkcs12Truststore(std::string_view pem);

}  // namespace agentproxy::trust
