// PEM certificate bundles given by users (--target-ca, --trust-ca, CA ConfigMaps).
#pragma once

#include <string>

namespace agentproxy::probe {

// Checks that `pem` holds one or more parsable X.509 certificates and nothing unparsable
// between BEGIN/END markers; returns the certificates re-encoded as PEM (trust::certificatesOf:
// keys and other blocks are left out). Throws InputError naming `source` and what is wrong.
std::string parseCertificateBundle(const std::string& pem, const std::string& source);

// Reads and checks a PEM file. Throws InputError naming the path.
std::string loadCertificateFile(const std::string& path);

// The system's CA bundle as PEM (SSL_CERT_FILE, else OpenSSL's default file), read once;
// empty when unreadable.
const std::string& systemRootsPem();

// Makes gRPC's default roots the system's bundle (GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, unless
// set), so that a gRPC call with no explicit roots trusts what OpenSSL trusts, from one
// parsed copy. Call before any thread starts.
void useSystemRootsForGrpc();

}  // namespace agentproxy::probe
