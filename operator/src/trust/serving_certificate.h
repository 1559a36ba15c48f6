// The webhook's serving certificate when the operator makes its own (the default; the chart can
// leave the job to cert-manager): a private CA, whose certificate becomes the webhook
// configuration's caBundle, a serving certificate it signs, and the checks the operator runs
// to decide whether the stored Secret is still usable. OpenSSL stays in the .cpp files.
//
// Guarantees:
// - Keys are ECDSA P-256, written as unencrypted PKCS#8 ("-----BEGIN PRIVATE KEY-----");
//   signatures SHA-256; serials 128-bit random positive; notBefore is `now` minus 5 minutes,
//   for clock skew between the operator and the API server.
// - The CA: subject and issuer CN=agentproxy-webhook-ca, basicConstraints critical CA:TRUE,
//   keyUsage critical keyCertSign+cRLSign, subjectKeyIdentifier.
// - The serving certificate: subject CN = the first DNS name (the first IP when there is no
//   DNS name), subjectAltName = every DNS name and IP, basicConstraints critical CA:FALSE,
//   keyUsage critical digitalSignature, extendedKeyUsage serverAuth, subject and authority key
//   identifiers; it never outlives its CA (notAfter is capped at the CA's).
// - Errors are TrustError with a message that never contains key material. The predicates
//   (needsRenewal, coversNames, keyMatches, verifiesWith) never throw: input that does not
//   parse is simply not usable.
// - No global state; safe from any thread. Only the keys and serials are random.
// Assumptions: `now` is the caller's clock (tests pass times in the past); names are what the
// API server dials: the webhook Service's DNS names (name.namespace.svc) and, for webhooks
// outside the cluster, IP addresses.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "trust/trust_error.h"

namespace agentproxy::trust {

struct CertificateRequest {
  std::vector<std::string> dnsNames;     // the first is also the subject CN
  std::vector<std::string> ipAddresses;  // IPv4 or IPv6 text
  std::chrono::system_clock::time_point now;
  std::chrono::seconds caValidity{std::chrono::years{10}};
  std::chrono::seconds certValidity{std::chrono::years{1}};
};

struct WebhookCertificates {
  std::string caCertPem;
  std::string caKeyPem;
  std::string certPem;
  std::string keyPem;
};

struct ServingCertificate {
  std::string certPem;
  std::string keyPem;
};

struct CertificateTimes {
  std::chrono::system_clock::time_point notBefore;
  std::chrono::system_clock::time_point notAfter;
};

// A new CA and a serving certificate it signs. Throws TrustError when the request has no name,
// a name that is not a DNS name (letters, digits, '-', '.', an optional leading "*.") or an IP
// address, or a validity that is not positive.
WebhookCertificates createWebhookCertificates(const CertificateRequest& request);

// A new key and serving certificate from an existing CA (request.caValidity is unused), so the
// certificate can be renewed without changing the caBundle the API server trusts. Throws
// TrustError, as above, and when the CA does not parse, is not a CA, has expired at
// request.now, or does not belong to the key.
ServingCertificate issueServingCertificate(std::string_view caCertPem, std::string_view caKeyPem,
                                           const CertificateRequest& request);

// The validity of the first certificate in `pem`. Throws TrustError when there is none.
CertificateTimes certificateTimes(std::string_view pem);

// True when the certificate should be replaced now: it does not parse, is not yet valid, has
// expired, or less than a third of its lifetime remains (cert-manager's default).
bool needsRenewal(std::string_view certPem, std::chrono::system_clock::time_point now);

// True when the certificate's subjectAltNames cover every name: DNS names (wildcards in the
// certificate match one label, as in TLS) and IP addresses in text form.
bool coversNames(std::string_view certPem, const std::vector<std::string>& names);

// True when `name` is an IPv4 or IPv6 address in text form (no brackets).
bool isIpAddress(const std::string& name);

// True when the private key (PKCS#8 or traditional PEM, unencrypted) belongs to the first
// certificate in `certPem`.
bool keyMatches(std::string_view certPem, std::string_view keyPem);

// True when the first certificate in `certPem` (later ones are untrusted intermediates) chains
// to a certificate in `caPem`, is valid at `now`, may serve TLS (extendedKeyUsage), and matches
// `name` (a DNS name or an IP address), as a TLS client would check it.
bool verifiesWith(std::string_view certPem, std::string_view caPem, std::string_view name,
                  std::chrono::system_clock::time_point now);

}  // namespace agentproxy::trust
