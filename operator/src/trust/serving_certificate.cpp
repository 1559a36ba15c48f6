#include "trust/serving_certificate.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>

#include "trust/openssl_handles.h"

namespace agentproxy::trust {
namespace {

using detail::BnPtr;
using detail::KeyPtr;
using detail::StoreCtxPtr;
using detail::StorePtr;
using detail::X509Ptr;
using std::chrono::system_clock;

constexpr char kCaCommonName[] = "agentproxy-webhook-ca";
// The API server and the operator may disagree on the time by a few minutes.
constexpr std::chrono::minutes kClockSkew{5};

[[noreturn]] void fail(const std::string& what) {
  throw TrustError("webhook certificate: " + what + " (OpenSSL: " + detail::opensslReason() + ")");
}

// A host name as a TLS client matches it: LDH labels of 1..63 characters, at most 253 in all,
// and a "*" only as the whole first label.
bool isDnsName(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  for (size_t label = 0;; ++label) {
    size_t end = name.find('.', start);
    std::string_view part = std::string_view(name).substr(
        start, end == std::string::npos ? std::string::npos : end - start);
    if (part.empty() || part.size() > 63) return false;
    bool wildcard = label == 0 && part == "*" && end != std::string::npos;
    if (!wildcard) {
      if (part.front() == '-' || part.back() == '-') return false;
      for (char c : part) {
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        if (!ok) return false;
      }
    }
    if (end == std::string::npos) return true;
    start = end + 1;
  }
}

void checkRequest(const CertificateRequest& request, bool needCa) {
  if (request.dnsNames.empty() && request.ipAddresses.empty()) {
    throw TrustError("webhook certificate: at least one DNS name or IP address is required");
  }
  for (const auto& name : request.dnsNames) {
    if (!isDnsName(name)) {
      throw TrustError("webhook certificate: \"" + name + "\" is not a valid DNS name");
    }
  }
  for (const auto& ip : request.ipAddresses) {
    if (!isIpAddress(ip)) {
      throw TrustError("webhook certificate: \"" + ip + "\" is not an IP address");
    }
  }
  if (request.certValidity <= std::chrono::seconds::zero()) {
    throw TrustError("webhook certificate: the certificate validity must be positive");
  }
  if (needCa && request.caValidity <= std::chrono::seconds::zero()) {
    throw TrustError("webhook certificate: the CA validity must be positive");
  }
}

KeyPtr newKey() {
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) fail("generating an EC P-256 key failed");
  return key;
}

void setTime(ASN1_TIME* field, system_clock::time_point t) {
  if (ASN1_TIME_set(field, detail::toTimeT(t)) == nullptr) fail("setting a validity date failed");
}

// Version 3, a random positive 128-bit serial, the validity, the subject CN and the key.
X509Ptr newCertificate(EVP_PKEY* key, const std::string& commonName,
                       system_clock::time_point notBefore, system_clock::time_point notAfter) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) fail("X509_new failed");
  BnPtr serial(BN_new());
  if (!serial || BN_rand(serial.get(), 128, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    fail("making a random serial number failed");
  }
  setTime(X509_getm_notBefore(cert.get()), notBefore);
  setTime(X509_getm_notAfter(cert.get()), notAfter);
  X509_NAME* subject = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(commonName.c_str()), -1, -1,
                                 0) != 1) {
    fail("setting the subject CN failed");
  }
  if (X509_set_pubkey(cert.get(), key) != 1) fail("setting the public key failed");
  return cert;
}

void addExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) fail(std::string("building the ") + OBJ_nid2sn(nid) + " extension failed");
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  if (!ok) fail(std::string("adding the ") + OBJ_nid2sn(nid) + " extension failed");
}

// Built as GENERAL_NAMEs rather than a "DNS:a,IP:b" config string, so that no name can inject
// another entry.
void addSubjectAltNames(X509* cert, const CertificateRequest& request) {
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  if (names == nullptr) fail("allocating subjectAltName failed");
  auto push = [&](GENERAL_NAME* name) {
    if (name == nullptr || sk_GENERAL_NAME_push(names, name) == 0) {
      GENERAL_NAME_free(name);
      GENERAL_NAMES_free(names);
      fail("building subjectAltName failed");
    }
  };
  for (const auto& dns : request.dnsNames) {
    push(a2i_GENERAL_NAME(nullptr, nullptr, nullptr, GEN_DNS, dns.c_str(), 0));
  }
  for (const auto& ip : request.ipAddresses) {
    push(a2i_GENERAL_NAME(nullptr, nullptr, nullptr, GEN_IPADD, ip.c_str(), 0));
  }
  bool ok = X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0, X509V3_ADD_DEFAULT) == 1;
  GENERAL_NAMES_free(names);
  if (!ok) fail("adding subjectAltName failed");
}

X509Ptr newCa(EVP_PKEY* key, system_clock::time_point notBefore,
              system_clock::time_point notAfter) {
  X509Ptr ca = newCertificate(key, kCaCommonName, notBefore, notAfter);
  if (X509_set_issuer_name(ca.get(), X509_get_subject_name(ca.get())) != 1) {
    fail("setting the CA issuer failed");
  }
  addExtension(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE");
  addExtension(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  addExtension(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
  if (X509_sign(ca.get(), key, EVP_sha256()) == 0) fail("self-signing the CA failed");
  return ca;
}

ServingCertificate issue(X509* ca, EVP_PKEY* caKey, const CertificateRequest& request) {
  system_clock::time_point caNotAfter;
  if (!detail::toTimePoint(X509_get0_notAfter(ca), caNotAfter))
    fail("the CA has no valid notAfter");
  system_clock::time_point notAfter = std::min(
      request.now + std::chrono::duration_cast<system_clock::duration>(request.certValidity),
      caNotAfter);
  KeyPtr key = newKey();
  const std::string& commonName =
      request.dnsNames.empty() ? request.ipAddresses.front() : request.dnsNames.front();
  X509Ptr cert = newCertificate(key.get(), commonName, request.now - kClockSkew, notAfter);
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(ca)) != 1) {
    fail("setting the issuer failed");
  }
  addExtension(cert.get(), ca, NID_basic_constraints, "critical,CA:FALSE");
  addExtension(cert.get(), ca, NID_key_usage, "critical,digitalSignature");
  addExtension(cert.get(), ca, NID_ext_key_usage, "serverAuth");
  addSubjectAltNames(cert.get(), request);
  addExtension(cert.get(), ca, NID_subject_key_identifier, "hash");
  addExtension(cert.get(), ca, NID_authority_key_identifier, "keyid:always");
  if (X509_sign(cert.get(), caKey, EVP_sha256()) == 0) fail("signing the certificate failed");
  ServingCertificate out{detail::certificatePem(cert.get()), detail::privateKeyPem(key.get())};
  if (out.certPem.empty() || out.keyPem.empty()) fail("writing PEM failed");
  return out;
}

// The instant as OpenSSL compares it: whole seconds.
system_clock::time_point wholeSeconds(system_clock::time_point t) {
  return system_clock::from_time_t(detail::toTimeT(t));
}

}  // namespace

WebhookCertificates createWebhookCertificates(const CertificateRequest& request) {
  checkRequest(request, /*needCa=*/true);
  KeyPtr caKey = newKey();
  X509Ptr ca =
      newCa(caKey.get(), request.now - kClockSkew,
            request.now + std::chrono::duration_cast<system_clock::duration>(request.caValidity));
  ServingCertificate serving = issue(ca.get(), caKey.get(), request);
  WebhookCertificates out{detail::certificatePem(ca.get()), detail::privateKeyPem(caKey.get()),
                          std::move(serving.certPem), std::move(serving.keyPem)};
  if (out.caCertPem.empty() || out.caKeyPem.empty()) fail("writing the CA as PEM failed");
  return out;
}

ServingCertificate issueServingCertificate(std::string_view caCertPem, std::string_view caKeyPem,
                                           const CertificateRequest& request) {
  checkRequest(request, /*needCa=*/false);
  X509Ptr ca = detail::readFirstCertificate(caCertPem);
  if (!ca) throw TrustError("webhook CA: the CA certificate does not parse as PEM X.509");
  KeyPtr caKey = detail::readPrivateKey(caKeyPem);
  if (!caKey) {
    throw TrustError("webhook CA: the CA key does not parse as an unencrypted PEM private key");
  }
  if (X509_check_ca(ca.get()) == 0) {
    throw TrustError("webhook CA: the CA certificate is not a CA (basicConstraints CA:TRUE)");
  }
  if (EVP_PKEY_eq(X509_get0_pubkey(ca.get()), caKey.get()) != 1) {
    ERR_clear_error();
    throw TrustError("webhook CA: the CA key does not belong to the CA certificate");
  }
  if (ASN1_TIME_cmp_time_t(X509_get0_notAfter(ca.get()), detail::toTimeT(request.now)) <= 0) {
    throw TrustError("webhook CA: the CA certificate has expired; create a new CA");
  }
  return issue(ca.get(), caKey.get(), request);
}

CertificateTimes certificateTimes(std::string_view pem) {
  X509Ptr cert = detail::readFirstCertificate(pem);
  if (!cert) throw TrustError("certificate: no PEM X.509 certificate found");
  CertificateTimes times;
  if (!detail::toTimePoint(X509_get0_notBefore(cert.get()), times.notBefore) ||
      !detail::toTimePoint(X509_get0_notAfter(cert.get()), times.notAfter)) {
    throw TrustError("certificate: the validity dates do not parse");
  }
  return times;
}

bool needsRenewal(std::string_view certPem, system_clock::time_point now) {
  CertificateTimes times;
  try {
    times = certificateTimes(certPem);
  } catch (const TrustError&) {
    return true;
  }
  now = wholeSeconds(now);
  if (now < times.notBefore || now >= times.notAfter) return true;
  return (times.notAfter - now) * 3 < times.notAfter - times.notBefore;
}

bool coversNames(std::string_view certPem, const std::vector<std::string>& names) {
  X509Ptr cert = detail::readFirstCertificate(certPem);
  if (!cert) return false;
  bool covered = std::all_of(names.begin(), names.end(), [&](const std::string& name) {
    if (isIpAddress(name)) return X509_check_ip_asc(cert.get(), name.c_str(), 0) == 1;
    return X509_check_host(cert.get(), name.data(), name.size(),
                           X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, nullptr) == 1;
  });
  ERR_clear_error();
  return covered;
}

bool keyMatches(std::string_view certPem, std::string_view keyPem) {
  X509Ptr cert = detail::readFirstCertificate(certPem);
  KeyPtr key = detail::readPrivateKey(keyPem);
  bool match = cert && key && EVP_PKEY_eq(X509_get0_pubkey(cert.get()), key.get()) == 1;
  ERR_clear_error();
  return match;
}

bool verifiesWith(std::string_view certPem, std::string_view caPem, std::string_view name,
                  system_clock::time_point now) {
  std::vector<X509Ptr> chain = detail::readCertificates(certPem);
  std::vector<X509Ptr> roots = detail::readCertificates(caPem);
  if (chain.empty() || roots.empty() || name.empty()) return false;

  StorePtr store(X509_STORE_new());
  if (!store) return false;
  for (const X509Ptr& root : roots) {
    if (X509_STORE_add_cert(store.get(), root.get()) != 1) {
      ERR_clear_error();  // the same CA twice in caPem
    }
  }
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  if (untrusted == nullptr) return false;
  for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted, chain[i].get());

  bool verified = false;
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (ctx && X509_STORE_CTX_init(ctx.get(), store.get(), chain.front().get(), untrusted) == 1) {
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    X509_VERIFY_PARAM_set_time(param, detail::toTimeT(now));
    X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
    std::string host(name);
    bool nameSet = isIpAddress(host)
                       ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1
                       : X509_VERIFY_PARAM_set1_host(param, host.data(), host.size()) == 1;
    verified = nameSet && X509_verify_cert(ctx.get()) == 1;
  }
  sk_X509_free(untrusted);  // the certificates belong to `chain`
  ERR_clear_error();
  return verified;
}

bool isIpAddress(const std::string& name) {
  ASN1_OCTET_STRING* ip = a2i_IPADDRESS(name.c_str());
  ERR_clear_error();
  if (ip == nullptr) return false;
  ASN1_OCTET_STRING_free(ip);
  return true;
}

}  // namespace agentproxy::trust
