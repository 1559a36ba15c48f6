#include "trust/openssl_handles.h"

#include <openssl/err.h>
#include <openssl/pem.h>

namespace agentproxy::trust::detail {

BioPtr readBio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string bioText(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

std::vector<X509Ptr> readCertificates(std::string_view pem) {
  std::vector<X509Ptr> certs;
  BioPtr bio = readBio(pem);
  while (X509Ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    certs.push_back(std::move(cert));
  }
  // The loop ends at the end of the text (no start line) or at a block that does not parse.
  unsigned long err = ERR_peek_last_error();
  bool clean = ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
  ERR_clear_error();
  if (!clean) certs.clear();
  return certs;
}

X509Ptr readFirstCertificate(std::string_view pem) {
  BioPtr bio = readBio(pem);
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return cert;
}

namespace {

// Answers OpenSSL's passphrase question with "no passphrase" instead of prompting on a tty.
int noPassphrase(char*, int, int, void*) { return -1; }

}  // namespace

KeyPtr readPrivateKey(std::string_view pem) {
  BioPtr bio = readBio(pem);
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassphrase, nullptr));
  ERR_clear_error();
  return key;
}

std::string certificatePem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return {};
  return bioText(bio.get());
}

std::string privateKeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return {};
  }
  return bioText(bio.get());
}

std::string opensslReason() {
  unsigned long err = ERR_peek_last_error();
  const char* reason = err != 0 ? ERR_reason_error_string(err) : nullptr;
  ERR_clear_error();
  return reason != nullptr ? reason : "unknown";
}

std::time_t toTimeT(std::chrono::system_clock::time_point t) {
  return std::chrono::system_clock::to_time_t(t);
}

bool toTimePoint(const ASN1_TIME* asn1, std::chrono::system_clock::time_point& out) {
  std::tm tm{};
  if (asn1 == nullptr || ASN1_TIME_to_tm(asn1, &tm) != 1) return false;
  out = std::chrono::system_clock::from_time_t(timegm(&tm));
  return true;
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
  std::time_t seconds = toTimeT(t);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  size_t n = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(text, n);
}

std::string distinguishedName(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    ERR_clear_error();
    return {};
  }
  return bioText(bio.get());
}

}  // namespace agentproxy::trust::detail
