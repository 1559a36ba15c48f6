#include "trust/ca_bundle.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <algorithm>
#include <ctime>
#include <optional>
#include <tuple>
#include <unordered_map>

#include "encoding/encoding.h"
#include "trust/certificate_summary.h"
#include "trust/openssl_handles.h"

namespace agentproxy::trust {
namespace {

using detail::BioPtr;

constexpr std::string_view kSystemOrigin = "the system CA bundle";

struct BundleEntry {
  std::string der;
  std::string fingerprint;  // lowercase hex SHA-256 of der
  std::string subject;      // RFC 2253
  bool expired = false;
  std::chrono::system_clock::time_point notAfter;
  std::vector<std::string> policyOrigins;  // where the policy named it; empty: system only
};

using BundleEntries = std::unordered_map<std::string, BundleEntry>;  // by fingerprint

// The PEM blocks of one input, decoded, and the label of each.
struct PemBlock {
  std::string label;
  std::string der;
};

std::string withOrigin(std::string_view origin, const std::string& problem) {
  return std::string(origin) + ": " + problem;
}

// Every PEM block of `pem`; text between blocks is ignored, as PEM (RFC 7468) allows.
std::vector<PemBlock> pemBlocks(std::string_view pem, std::string_view origin) {
  std::vector<PemBlock> blocks;
  BioPtr bio = detail::readBio(pem);
  for (;;) {
    char* label = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    ERR_clear_error();
    if (PEM_read_bio(bio.get(), &label, &header, &data, &len) != 1) {
      unsigned long err = ERR_peek_last_error();
      if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE) {
        ERR_clear_error();
        return blocks;
      }
      throw TrustError(withOrigin(origin, "PEM block " + std::to_string(blocks.size() + 1) +
                                              " is not valid PEM (" + detail::opensslReason() +
                                              ")"));
    }
    blocks.push_back(
        {label, std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(len))});
    OPENSSL_free(label);
    OPENSSL_free(header);
    OPENSSL_clear_free(data, static_cast<size_t>(len));  // may be a private key
  }
}

bool isCertificateLabel(const std::string& label) {
  return label == "CERTIFICATE" || label == "X509 CERTIFICATE" || label == "TRUSTED CERTIFICATE";
}

// The certificate of a CERTIFICATE-like block, checked, with its DER cut to the certificate.
detail::CertificateSummary checkedCertificate(PemBlock& block, size_t blockNumber,
                                              std::string_view origin, std::time_t now) {
  std::optional<detail::CertificateSummary> summary = detail::summarizeCertificate(block.der, now);
  // OpenSSL's TRUSTED CERTIFICATE is a certificate followed by trust settings; the agents'
  // TLS stacks read plain certificates only, so the certificate alone goes into the bundle.
  bool trailing =
      summary && summary->length != block.der.size() && block.label != "TRUSTED CERTIFICATE";
  if (!summary || trailing) {
    throw TrustError(withOrigin(origin, "PEM block " + std::to_string(blockNumber) + " (" +
                                            block.label + ") is not an X.509 certificate"));
  }
  block.der.resize(summary->length);
  return *summary;
}

// Calls `add(block, summary)` for each certificate of one input; returns how many it held.
// Other blocks (a private key next to the CA) are wiped and skipped.
template <typename Add>
size_t forEachCertificate(std::string_view pem, std::string_view origin, std::time_t now, Add add) {
  std::vector<PemBlock> blocks = pemBlocks(pem, origin);
  size_t certificates = 0;
  size_t blockNumber = 0;
  for (PemBlock& block : blocks) {
    ++blockNumber;
    if (!isCertificateLabel(block.label)) {
      OPENSSL_cleanse(block.der.data(), block.der.size());
      continue;
    }
    auto summary = checkedCertificate(block, blockNumber, origin, now);
    ++certificates;
    add(block, summary);
  }
  ERR_clear_error();
  return certificates;
}

// Adds the certificates of one input; returns how many it held.
size_t addCertificates(std::string_view pem, std::string_view origin, bool policySource,
                       std::time_t now, BundleEntries& entries) {
  return forEachCertificate(pem, origin, now,
                            [&](PemBlock& block, detail::CertificateSummary& summary) {
                              std::string fingerprint = encoding::sha256Hex(block.der);
                              auto [it, inserted] = entries.try_emplace(fingerprint);
                              BundleEntry& entry = it->second;
                              if (inserted) {
                                entry.der = std::move(block.der);
                                entry.fingerprint = fingerprint;
                                entry.subject = std::move(summary.subject);
                                entry.expired = summary.expired;
                                entry.notAfter = summary.notAfter;
                              }
                              if (policySource) entry.policyOrigins.emplace_back(origin);
                            });
}

std::string noCertificateProblem(std::string_view pem, std::string_view origin) {
  std::vector<PemBlock> blocks = pemBlocks(pem, origin);
  bool privateKey = std::any_of(blocks.begin(), blocks.end(), [](const PemBlock& b) {
    return b.label.find("PRIVATE KEY") != std::string::npos;
  });
  for (PemBlock& block : blocks) OPENSSL_cleanse(block.der.data(), block.der.size());
  if (privateKey) {
    return "holds a private key but no certificate (want -----BEGIN CERTIFICATE-----; private "
           "keys are never copied into the CA bundle)";
  }
  if (!blocks.empty()) {
    return "holds PEM blocks but no certificate (want -----BEGIN CERTIFICATE-----)";
  }
  return "no PEM certificate found (want -----BEGIN CERTIFICATE-----)";
}

// RFC 7468's strict encoding: base64 in lines of 64 characters.
void appendPemCertificate(std::string& out, const std::string& der) {
  static constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----\n";
  static constexpr std::string_view kEnd = "-----END CERTIFICATE-----\n";
  std::string base64 = encoding::base64Encode(der);
  out += kBegin;
  for (size_t i = 0; i < base64.size(); i += 64) {
    out.append(base64, i, 64);
    out += '\n';
  }
  out += kEnd;
}

std::string expiredSentence(const BundleEntry& entry) {
  std::string origins;
  for (size_t i = 0; i < entry.policyOrigins.size(); ++i) {
    if (i > 0) origins += " and ";
    origins += entry.policyOrigins[i];
  }
  return "CA certificate \"" + entry.subject + "\" from " + origins + " expired at " +
         detail::rfc3339(entry.notAfter) +
         "; it stays in the bundle but verifies nothing: replace it in its source.";
}

}  // namespace

std::string certificatesOf(std::string_view pem, std::string_view origin) {
  std::string out;
  size_t count = forEachCertificate(
      pem, origin, std::time(nullptr),
      [&](PemBlock& block, detail::CertificateSummary&) { appendPemCertificate(out, block.der); });
  if (count == 0) throw TrustError(withOrigin(origin, noCertificateProblem(pem, origin)));
  return out;
}

CaBundle mergeCaBundle(std::string_view systemPem, const std::vector<CaSource>& sources,
                       std::chrono::system_clock::time_point now) {
  const std::time_t nowT = detail::toTimeT(now);
  BundleEntries entries;
  entries.reserve(256);
  addCertificates(systemPem, kSystemOrigin, /*policySource=*/false, nowT, entries);
  for (const CaSource& source : sources) {
    if (addCertificates(source.pem, source.origin, /*policySource=*/true, nowT, entries) == 0) {
      throw TrustError(withOrigin(source.origin, noCertificateProblem(source.pem, source.origin)));
    }
  }

  std::vector<BundleEntry*> ordered;
  ordered.reserve(entries.size());
  for (auto& [fingerprint, entry] : entries) ordered.push_back(&entry);
  std::sort(ordered.begin(), ordered.end(), [](const BundleEntry* a, const BundleEntry* b) {
    return std::tie(a->subject, a->fingerprint) < std::tie(b->subject, b->fingerprint);
  });

  CaBundle bundle;
  bundle.certificates = ordered.size();
  size_t pemSize = 0;
  for (const BundleEntry* entry : ordered) pemSize += entry->der.size() * 4 / 3 + 100;
  bundle.pem.reserve(pemSize);
  for (BundleEntry* entry : ordered) {
    appendPemCertificate(bundle.pem, entry->der);
    if (entry->expired && !entry->policyOrigins.empty()) {
      auto& origins = entry->policyOrigins;
      std::sort(origins.begin(), origins.end());
      origins.erase(std::unique(origins.begin(), origins.end()), origins.end());
      bundle.expired.push_back(expiredSentence(*entry));
    }
  }
  bundle.hash = "sha256:" + encoding::sha256Hex(bundle.pem);
  return bundle;
}

}  // namespace agentproxy::trust
