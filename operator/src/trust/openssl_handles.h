// OpenSSL plumbing: owning handles, PEM in and out, time conversions. The one set of handle
// types for every .cpp file that calls OpenSSL (trust, the probe's TLS, the kube config's PEM
// checks, the webhook server). Internal: it includes OpenSSL headers, so no public header
// includes it.
//
// Guarantees: readers return null instead of throwing and never prompt for a passphrase;
// opensslReason() gives OpenSSL's reason text only (never the error data OpenSSL may attach,
// which can quote input) and clears the error queue.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <chrono>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace agentproxy::trust::detail {

struct OpensslFree {
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};
using BioPtr = std::unique_ptr<BIO, OpensslFree>;
using BnPtr = std::unique_ptr<BIGNUM, OpensslFree>;
using KeyPtr = std::unique_ptr<EVP_PKEY, OpensslFree>;
using X509Ptr = std::unique_ptr<X509, OpensslFree>;
using StorePtr = std::unique_ptr<X509_STORE, OpensslFree>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, OpensslFree>;

// A read-only memory BIO over `text` (which must outlive it).
BioPtr readBio(std::string_view text);
// Everything written to a memory BIO.
std::string bioText(BIO* bio);

// The certificates (CERTIFICATE or X509 CERTIFICATE blocks) in `pem`, in order; other blocks
// are skipped; empty when a certificate block does not parse.
std::vector<X509Ptr> readCertificates(std::string_view pem);
// The first certificate in `pem`, or null.
X509Ptr readFirstCertificate(std::string_view pem);
// The first private key in `pem` (PKCS#8 or traditional), or null; encrypted keys are null.
KeyPtr readPrivateKey(std::string_view pem);

std::string certificatePem(X509* cert);
// Unencrypted PKCS#8 ("PRIVATE KEY").
std::string privateKeyPem(EVP_PKEY* key);

// The reason of OpenSSL's most recent error ("unknown" when none); clears the error queue.
std::string opensslReason();

std::time_t toTimeT(std::chrono::system_clock::time_point t);
// False when `asn1` is not a valid time.
bool toTimePoint(const ASN1_TIME* asn1, std::chrono::system_clock::time_point& out);
// "2026-11-27T13:37:57Z"
std::string rfc3339(std::chrono::system_clock::time_point t);

// RFC 2253 order and escaping, UTF-8 kept as is: "CN=Corp Proxy CA,O=Corp".
std::string distinguishedName(const X509_NAME* name);

}  // namespace agentproxy::trust::detail
