#include "trust/ca_bundle.h"

#include <gtest/gtest.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "encoding/encoding.h"
#include "trust/serving_certificate.h"

namespace agentproxy::trust {
namespace {

using std::chrono::system_clock;
using namespace std::chrono_literals;

// 2026-01-01T00:00:00Z
const system_clock::time_point kNow = system_clock::from_time_t(1767225600);

// A fresh self-signed CA certificate and its key (PEM), valid from `now` - 5 min for `validity`.
WebhookCertificates newCa(system_clock::time_point now = kNow,
                          std::chrono::seconds validity = std::chrono::years{5}) {
  CertificateRequest request;
  request.dnsNames = {"ca-test.example"};
  request.now = now;
  request.caValidity = validity;
  request.certValidity = validity;
  return createWebhookCertificates(request);
}

std::string replaceAll(std::string text, std::string_view from, std::string_view to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// The base64 body lines of a PEM block: what must never leak.
std::vector<std::string> bodyLines(const std::string& pem) {
  std::vector<std::string> lines;
  std::istringstream in(pem);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.rfind("-----", 0) != 0) lines.push_back(line);
  }
  return lines;
}

int countOf(const std::string& text, std::string_view what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::string errorOf(std::string_view systemPem, const std::vector<CaSource>& sources) {
  try {
    mergeCaBundle(systemPem, sources, kNow);
  } catch (const TrustError& e) {
    return e.what();
  }
  ADD_FAILURE() << "mergeCaBundle did not throw";
  return {};
}

TEST(CaBundleTest, SameCertificateWithOtherWhitespaceAppearsOnce) {
  std::string ca = newCa().caCertPem;
  std::string messy = "# Corp proxy CA, exported from the appliance\r\n\r\n" +
                      replaceAll(ca, "\n", "\r\n") + "\r\n\r\n";
  CaBundle clean = mergeCaBundle("", {{"ConfigMap a/clean key ca.crt", ca}}, kNow);
  CaBundle merged = mergeCaBundle(
      "", {{"ConfigMap a/clean key ca.crt", ca}, {"Secret a/messy key ca.crt", messy + ca}}, kNow);
  EXPECT_EQ(merged.certificates, 1u);
  EXPECT_EQ(countOf(merged.pem, "-----BEGIN CERTIFICATE-----"), 1);
  EXPECT_EQ(merged.pem, clean.pem);
  EXPECT_EQ(merged.hash, clean.hash);
  EXPECT_EQ(merged.pem.find('\r'), std::string::npos);
  EXPECT_EQ(merged.pem.find('#'), std::string::npos);
}

TEST(CaBundleTest, ResultDoesNotDependOnOrder) {
  std::string a = newCa().caCertPem, b = newCa().caCertPem, c = newCa().caCertPem;
  CaBundle first = mergeCaBundle(a, {{"one", b}, {"two", c + a}}, kNow);
  CaBundle second = mergeCaBundle(c, {{"two", a}, {"one", b + c}}, kNow);
  CaBundle third = mergeCaBundle("", {{"all", c + b + a}}, kNow);
  EXPECT_EQ(first.certificates, 3u);
  EXPECT_EQ(first.pem, second.pem);
  EXPECT_EQ(first.pem, third.pem);
  EXPECT_EQ(first.hash, second.hash);
  EXPECT_EQ(first.hash, third.hash);
}

TEST(CaBundleTest, HashIsTheSha256OfTheBundleText) {
  CaBundle bundle = mergeCaBundle("", {{"one", newCa().caCertPem}}, kNow);
  EXPECT_EQ(bundle.hash, "sha256:" + encoding::sha256Hex(bundle.pem));
  // The bundle is canonical: merging it again changes nothing.
  CaBundle again = mergeCaBundle(bundle.pem, {}, kNow);
  EXPECT_EQ(again.pem, bundle.pem);
  EXPECT_EQ(again.hash, bundle.hash);
}

TEST(CaBundleTest, MergesSystemAndPolicyCas) {
  WebhookCertificates system1 = newCa(), system2 = newCa(), corp = newCa();
  // The system bundle may carry comments and other blocks; only its certificates count.
  std::string systemPem = "# ca-certificates\n" + system1.caCertPem + "\n" + system1.caKeyPem +
                          "# next\n" + system2.caCertPem;
  CaBundle bundle = mergeCaBundle(
      systemPem,
      {{"ConfigMap agentproxy-system/corp-ca key ca.crt", corp.caCertPem + system1.caCertPem}},
      kNow);
  EXPECT_EQ(bundle.certificates, 3u);
  EXPECT_TRUE(bundle.expired.empty());
  for (const std::string& line : bodyLines(system1.caKeyPem)) {
    EXPECT_EQ(bundle.pem.find(line), std::string::npos) << "a key line reached the bundle";
  }
  EXPECT_EQ(bundle.pem.find("PRIVATE KEY"), std::string::npos);
  for (const auto* cert : {&system1.caCertPem, &system2.caCertPem, &corp.caCertPem}) {
    EXPECT_NE(bundle.pem.find(bodyLines(*cert)[1]), std::string::npos);
  }
}

TEST(CaBundleTest, NoSystemCasAndNoSourcesIsAnEmptyBundle) {
  CaBundle bundle = mergeCaBundle("", {}, kNow);
  EXPECT_EQ(bundle.certificates, 0u);
  EXPECT_EQ(bundle.pem, "");
  EXPECT_EQ(bundle.hash, "sha256:" + encoding::sha256Hex(""));
}

TEST(CaBundleTest, ExpiredPolicyCaIsKeptAndReportedWithOriginAndDate) {
  // Valid 2015-01-01T00:00:00Z - 5 min .. 2016-01-01T00:00:00Z.
  std::string old = newCa(system_clock::from_time_t(1420070400), 365 * 24h).caCertPem;
  std::string origin = "ConfigMap agentproxy-system/corp-ca key ca.crt";
  CaBundle bundle = mergeCaBundle("", {{origin, old}, {origin, old}}, kNow);
  EXPECT_EQ(bundle.certificates, 1u);
  ASSERT_EQ(bundle.expired.size(), 1u);
  const std::string& sentence = bundle.expired[0];
  EXPECT_NE(sentence.find("CN=agentproxy-webhook-ca"), std::string::npos) << sentence;
  EXPECT_NE(sentence.find(origin), std::string::npos) << sentence;
  EXPECT_NE(sentence.find("2016-01-01T00:00:00Z"), std::string::npos) << sentence;
  EXPECT_EQ(countOf(sentence, origin), 1) << sentence;
  std::cout << "expired: " << sentence << "\n";

  // Before its expiry, nothing to report.
  EXPECT_TRUE(
      mergeCaBundle("", {{origin, old}}, system_clock::from_time_t(1430000000)).expired.empty());
}

TEST(CaBundleTest, ExpiredCaNamesEveryPolicySourceButNotTheSystem) {
  std::string old = newCa(system_clock::from_time_t(1420070400), 365 * 24h).caCertPem;
  CaBundle bundle = mergeCaBundle(
      old, {{"Secret b/two key ca.crt", old}, {"ConfigMap a/one key ca.crt", old}}, kNow);
  ASSERT_EQ(bundle.expired.size(), 1u);
  EXPECT_NE(bundle.expired[0].find("ConfigMap a/one key ca.crt and Secret b/two key ca.crt"),
            std::string::npos)
      << bundle.expired[0];
  EXPECT_EQ(bundle.expired[0].find("system"), std::string::npos) << bundle.expired[0];
  // An expired system CA alone is not the user's to fix.
  EXPECT_TRUE(mergeCaBundle(old, {}, kNow).expired.empty());
}

TEST(CaBundleTest, TextWithoutCertificateThrowsNamingTheOrigin) {
  std::string message = errorOf("", {{"ConfigMap a/corp-ca key ca.crt", "not a certificate\n"}});
  EXPECT_NE(message.find("ConfigMap a/corp-ca key ca.crt"), std::string::npos) << message;
  EXPECT_NE(message.find("no PEM certificate"), std::string::npos) << message;

  message = errorOf("", {{"ConfigMap a/empty key ca.crt", ""}});
  EXPECT_NE(message.find("ConfigMap a/empty key ca.crt"), std::string::npos) << message;
}

TEST(CaBundleTest, CorruptCertificateThrowsNamingTheOriginAndTheBlock) {
  std::string good = newCa().caCertPem;
  std::string corrupt = good;
  corrupt[corrupt.find('\n') + 5] = '*';  // not base64
  std::string message = errorOf(
      "", {{"ConfigMap a/ok key ca.crt", good}, {"Secret a/bad key ca.crt", good + corrupt}});
  EXPECT_NE(message.find("Secret a/bad key ca.crt"), std::string::npos) << message;
  EXPECT_NE(message.find("PEM block 2"), std::string::npos) << message;
  EXPECT_NE(message.find("not valid PEM"), std::string::npos) << message;

  // Valid base64 that is not DER.
  std::string notDer = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
  message = errorOf("", {{"Secret a/bad key ca.crt", notDer}});
  EXPECT_NE(message.find("Secret a/bad key ca.crt"), std::string::npos) << message;
  EXPECT_NE(message.find("not an X.509 certificate"), std::string::npos) << message;

  // A truncated block (no END line).
  message = errorOf("", {{"Secret a/cut key ca.crt", good.substr(0, good.size() / 2)}});
  EXPECT_NE(message.find("Secret a/cut key ca.crt"), std::string::npos) << message;
}

TEST(CaBundleTest, BrokenSystemCertificateIsAnErrorNotSkipped) {
  std::string notDer = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
  std::string message = errorOf(newCa().caCertPem + notDer, {});
  EXPECT_NE(message.find("system CA bundle"), std::string::npos) << message;
}

TEST(CaBundleTest, OnlyAPrivateKeyThrowsWithoutEchoingIt) {
  WebhookCertificates ca = newCa();
  std::string message =
      errorOf("", {{"Secret agentproxy-system/corp-ca key tls.key", ca.caKeyPem}});
  EXPECT_NE(message.find("Secret agentproxy-system/corp-ca key tls.key"), std::string::npos)
      << message;
  EXPECT_NE(message.find("private key but no certificate"), std::string::npos) << message;
  for (const std::string& line : bodyLines(ca.caKeyPem)) {
    EXPECT_EQ(message.find(line), std::string::npos) << "the message quotes the key";
  }
}

TEST(CaBundleTest, KeyNextToCertificateIsIgnored) {
  WebhookCertificates ca = newCa();
  CaBundle bundle = mergeCaBundle("", {{"Secret a/tls", ca.caKeyPem + ca.caCertPem}}, kNow);
  EXPECT_EQ(bundle.certificates, 1u);
  EXPECT_EQ(bundle.pem, mergeCaBundle("", {{"ConfigMap a/ca", ca.caCertPem}}, kNow).pem);
}

// OpenSSL's "TRUSTED CERTIFICATE" (a certificate plus trust settings) and the old
// "X509 CERTIFICATE" label are read as the certificate they hold.
TEST(CaBundleTest, OtherCertificateLabelsAreTheSameCertificate) {
  std::string ca = newCa().caCertPem;
  std::unique_ptr<BIO, decltype(&BIO_free)> in(BIO_new_mem_buf(ca.data(), -1), BIO_free);
  X509* cert = PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr);
  ASSERT_NE(cert, nullptr);
  X509_add1_trust_object(cert, OBJ_nid2obj(NID_server_auth));
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_X509_AUX(out.get(), cert);
  X509_free(cert);
  char* data = nullptr;
  long len = BIO_get_mem_data(out.get(), &data);
  std::string trusted(data, static_cast<size_t>(len));
  ASSERT_EQ(trusted.rfind("-----BEGIN TRUSTED CERTIFICATE-----", 0), 0u);
  std::string old = replaceAll(ca, "CERTIFICATE-----", "X509 CERTIFICATE-----");

  CaBundle plain = mergeCaBundle("", {{"plain", ca}}, kNow);
  EXPECT_EQ(mergeCaBundle("", {{"trusted", trusted}}, kNow).pem, plain.pem);
  EXPECT_EQ(mergeCaBundle("", {{"old", old}}, kNow).pem, plain.pem);
  EXPECT_EQ(mergeCaBundle("", {{"all", trusted + old + ca}}, kNow).certificates, 1u);
}

// What the probe trusts from one file: its certificates as given, keys left out.
TEST(CertificatesOf, KeepsOrderAndDuplicatesAndDropsKeys) {
  WebhookCertificates a = newCa();
  WebhookCertificates b = newCa();
  std::string canonicalA = mergeCaBundle("", {{"a", a.caCertPem}}, kNow).pem;
  std::string canonicalB = mergeCaBundle("", {{"b", b.caCertPem}}, kNow).pem;
  std::string messy =
      "comment\n" + replaceAll(b.caCertPem, "\n", "\r\n") + a.caKeyPem + a.caCertPem + b.caCertPem;
  EXPECT_EQ(certificatesOf(messy, "CA file corp.pem"), canonicalB + canonicalA + canonicalB);
  EXPECT_EQ(countOf(certificatesOf(messy, "x"), "PRIVATE KEY"), 0);
}

TEST(CertificatesOf, ErrorsNameTheSourceAndTheBlock) {
  auto errorOfOne = [](const std::string& pem) {
    try {
      certificatesOf(pem, "CA file corp.pem");
    } catch (const TrustError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(errorOfOne("hello\n"),
            "CA file corp.pem: no PEM certificate found (want -----BEGIN CERTIFICATE-----)");
  std::string notDer = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
  EXPECT_EQ(errorOfOne(newCa().caCertPem + notDer),
            "CA file corp.pem: PEM block 2 (CERTIFICATE) is not an X.509 certificate");
  EXPECT_NE(errorOfOne(newCa().caKeyPem).find("private key but no certificate"), std::string::npos);
}

TEST(CaBundleTest, DebianSystemBundleMergesQuickly) {
  std::ifstream file("/etc/ssl/certs/ca-certificates.crt", std::ios::binary);
  if (!file) {
    // In CI the machine is set up to have it: a missing bundle there is a failure, not a skip.
    const char* ci = std::getenv("CI");
    if (ci != nullptr && std::string(ci) == "true") FAIL() << "CI=true and no system CA bundle";
    GTEST_SKIP() << "no /etc/ssl/certs/ca-certificates.crt";
  }
  std::ostringstream text;
  text << file.rdbuf();
  std::string corp = newCa().caCertPem;

  auto start = std::chrono::steady_clock::now();
  CaBundle bundle =
      mergeCaBundle(text.str(), {{"ConfigMap a/corp-ca key ca.crt", corp}}, system_clock::now());
  auto elapsed = std::chrono::steady_clock::now() - start;
  double ms = std::chrono::duration<double, std::milli>(elapsed).count();
  std::cout << "merged the system bundle (" << bundle.certificates << " certificates, "
            << bundle.pem.size() << " bytes) in " << ms << " ms\n";
  RecordProperty("merge_ms", std::to_string(ms));
  EXPECT_GT(bundle.certificates, 100u);
  EXPECT_TRUE(bundle.expired.empty());
  EXPECT_EQ(mergeCaBundle(bundle.pem, {}, system_clock::now()).hash, bundle.hash);
}

}  // namespace
}  // namespace agentproxy::trust
