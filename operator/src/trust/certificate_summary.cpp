#include "trust/certificate_summary.h"

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include <memory>

#include "trust/openssl_handles.h"

namespace agentproxy::trust::detail {
namespace {

// RFC 5280 4.1, with SubjectPublicKeyInfo kept as its two fields instead of an EVP_PKEY.
struct RawPublicKeyInfo {
  X509_ALGOR* algorithm;
  ASN1_BIT_STRING* key;
};

struct RawTbsCertificate {
  ASN1_INTEGER* version;
  ASN1_INTEGER* serialNumber;
  X509_ALGOR* signature;
  X509_NAME* issuer;
  X509_VAL* validity;
  X509_NAME* subject;
  RawPublicKeyInfo* subjectPublicKeyInfo;
  ASN1_BIT_STRING* issuerUniqueId;
  ASN1_BIT_STRING* subjectUniqueId;
  STACK_OF(X509_EXTENSION) * extensions;
};

struct RawCertificate {
  RawTbsCertificate* tbsCertificate;
  X509_ALGOR* signatureAlgorithm;
  ASN1_BIT_STRING* signatureValue;
};

// OpenSSL's template macros, which clang-format cannot lay out.
// clang-format off
ASN1_SEQUENCE(RawPublicKeyInfo) = {
    ASN1_SIMPLE(RawPublicKeyInfo, algorithm, X509_ALGOR),
    ASN1_SIMPLE(RawPublicKeyInfo, key, ASN1_BIT_STRING),
} ASN1_SEQUENCE_END(RawPublicKeyInfo)

ASN1_SEQUENCE(RawTbsCertificate) = {
    ASN1_EXP_OPT(RawTbsCertificate, version, ASN1_INTEGER, 0),
    ASN1_SIMPLE(RawTbsCertificate, serialNumber, ASN1_INTEGER),
    ASN1_SIMPLE(RawTbsCertificate, signature, X509_ALGOR),
    ASN1_SIMPLE(RawTbsCertificate, issuer, X509_NAME),
    ASN1_SIMPLE(RawTbsCertificate, validity, X509_VAL),
    ASN1_SIMPLE(RawTbsCertificate, subject, X509_NAME),
    ASN1_SIMPLE(RawTbsCertificate, subjectPublicKeyInfo, RawPublicKeyInfo),
    ASN1_IMP_OPT(RawTbsCertificate, issuerUniqueId, ASN1_BIT_STRING, 1),
    ASN1_IMP_OPT(RawTbsCertificate, subjectUniqueId, ASN1_BIT_STRING, 2),
    ASN1_EXP_SEQUENCE_OF_OPT(RawTbsCertificate, extensions, X509_EXTENSION, 3),
} ASN1_SEQUENCE_END(RawTbsCertificate)

ASN1_SEQUENCE(RawCertificate) = {
    ASN1_SIMPLE(RawCertificate, tbsCertificate, RawTbsCertificate),
    ASN1_SIMPLE(RawCertificate, signatureAlgorithm, X509_ALGOR),
    ASN1_SIMPLE(RawCertificate, signatureValue, ASN1_BIT_STRING),
} ASN1_SEQUENCE_END(RawCertificate)

struct RawCertificateFree {
  void operator()(RawCertificate* p) const {
    ASN1_item_free(reinterpret_cast<ASN1_VALUE*>(p), ASN1_ITEM_rptr(RawCertificate));
  }
};
// clang-format on

}  // namespace

std::optional<CertificateSummary> summarizeCertificate(std::string_view der, std::time_t now) {
  auto start = reinterpret_cast<const unsigned char*>(der.data());
  const unsigned char* end = start;
  std::unique_ptr<RawCertificate, RawCertificateFree> cert(reinterpret_cast<RawCertificate*>(
      ASN1_item_d2i(nullptr, &end, static_cast<long>(der.size()), ASN1_ITEM_rptr(RawCertificate))));
  if (!cert) {
    ERR_clear_error();
    return std::nullopt;
  }
  const RawTbsCertificate& tbs = *cert->tbsCertificate;
  CertificateSummary summary;
  summary.length = static_cast<size_t>(end - start);
  summary.subject = distinguishedName(tbs.subject);
  const ASN1_TIME* notAfter = tbs.validity->notAfter;
  if (!toTimePoint(notAfter, summary.notAfter)) {
    ERR_clear_error();
    return std::nullopt;
  }
  summary.expired = ASN1_TIME_cmp_time_t(notAfter, now) < 0;
  return summary;
}

}  // namespace agentproxy::trust::detail
