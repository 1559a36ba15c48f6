#include "trust/serving_certificate.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>

extern char** environ;

namespace agentproxy::trust {
namespace {

using std::chrono::system_clock;
using namespace std::chrono_literals;

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
using CertPtr = std::unique_ptr<X509, X509Free>;

CertPtr parse(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), int(pem.size())),
                                                BIO_free);
  return CertPtr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

const std::vector<std::string> kDnsNames = {
    "agentproxy-webhook.agentproxy-system.svc",
    "agentproxy-webhook.agentproxy-system.svc.cluster.local"};
const std::vector<std::string> kIps = {"10.96.0.20", "fd00::20"};

CertificateRequest requestAt(system_clock::time_point now) {
  CertificateRequest request;
  request.dnsNames = kDnsNames;
  request.ipAddresses = kIps;
  request.now = now;
  return request;
}

// X509_verify_cert in strict RFC 5280 mode, with the TLS server purpose and a host or IP check,
// independently of verifiesWith().
bool strictlyVerifies(const std::string& certPem, const std::string& caPem, const std::string& name,
                      bool ip) {
  CertPtr cert = parse(certPem), ca = parse(caPem);
  if (!cert || !ca) return false;
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca.get());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, cert.get(), nullptr);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_X509_STRICT);
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  if (ip) {
    X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
  }
  bool ok = X509_verify_cert(ctx) == 1;
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return ok;
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "trust-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::filesystem::path write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name, std::ios::binary) << text;
    return path_ / name;
  }

 private:
  std::filesystem::path path_;
};

// Runs the openssl command line, output discarded; returns its exit code.
int runOpenssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {AGENTPROXY_OPENSSL_CLI};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (auto& arg : argv) cargv.push_back(arg.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot run " + argv[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

TEST(ServingCertificateTest, VerifiesForEveryNameAndNoOther) {
  WebhookCertificates certs = createWebhookCertificates(requestAt(system_clock::now()));
  for (const auto& name : kDnsNames) {
    EXPECT_TRUE(strictlyVerifies(certs.certPem, certs.caCertPem, name, false)) << name;
    EXPECT_TRUE(verifiesWith(certs.certPem, certs.caCertPem, name, system_clock::now())) << name;
  }
  for (const auto& ip : kIps) {
    EXPECT_TRUE(strictlyVerifies(certs.certPem, certs.caCertPem, ip, true)) << ip;
    EXPECT_TRUE(verifiesWith(certs.certPem, certs.caCertPem, ip, system_clock::now())) << ip;
  }
  EXPECT_FALSE(
      strictlyVerifies(certs.certPem, certs.caCertPem, "other.agentproxy-system.svc", false));
  EXPECT_FALSE(strictlyVerifies(certs.certPem, certs.caCertPem, "10.96.0.21", true));
  EXPECT_FALSE(verifiesWith(certs.certPem, certs.caCertPem, "other.agentproxy-system.svc",
                            system_clock::now()));
  EXPECT_FALSE(verifiesWith(certs.certPem, certs.caCertPem, "10.96.0.21", system_clock::now()));
}

TEST(ServingCertificateTest, OpensslCommandLineAgrees) {
  if (std::string(AGENTPROXY_OPENSSL_CLI).empty()) {
    // In CI the machine is set up to have it: a missing openssl there is a failure, not a skip.
    const char* ci = std::getenv("CI");
    if (ci != nullptr && std::string(ci) == "true") FAIL() << "CI=true and no openssl command";
    GTEST_SKIP() << "no openssl command";
  }
  WebhookCertificates certs = createWebhookCertificates(requestAt(system_clock::now()));
  TempDir dir;
  std::string ca = dir.write("ca.pem", certs.caCertPem).string();
  std::string cert = dir.write("cert.pem", certs.certPem).string();
  auto verify = [&](const char* flag, const std::string& name) {
    return runOpenssl(
        {"verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", ca, flag, name, cert});
  };
  for (const auto& name : kDnsNames) EXPECT_EQ(verify("-verify_hostname", name), 0) << name;
  for (const auto& ip : kIps) EXPECT_EQ(verify("-verify_ip", ip), 0) << ip;
  EXPECT_NE(verify("-verify_hostname", "other.agentproxy-system.svc"), 0);
  EXPECT_NE(verify("-verify_ip", "10.96.0.21"), 0);

  // The key files are what `openssl pkey` and a TLS server load, and belong to the certificates.
  std::string key = dir.write("key.pem", certs.keyPem).string();
  EXPECT_EQ(runOpenssl({"pkey", "-in", key, "-noout"}), 0);
  EXPECT_EQ(runOpenssl({"x509", "-in", cert, "-noout", "-checkhost", kDnsNames[0]}), 0);
}

TEST(ServingCertificateTest, CertificatesHaveTheRequiredShape) {
  system_clock::time_point now = system_clock::from_time_t(1767225600);  // 2026-01-01
  WebhookCertificates certs = createWebhookCertificates(requestAt(now));
  CertPtr ca = parse(certs.caCertPem), leaf = parse(certs.certPem);
  ASSERT_TRUE(ca && leaf);

  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_EQ(X509_check_ca(leaf.get()), 0);
  EXPECT_TRUE(X509_get_extension_flags(ca.get()) & EXFLAG_SS);
  EXPECT_TRUE(X509_get_key_usage(ca.get()) & KU_KEY_CERT_SIGN);
  EXPECT_TRUE(X509_get_key_usage(ca.get()) & KU_CRL_SIGN);
  EXPECT_NE(X509_get0_subject_key_id(ca.get()), nullptr);
  EXPECT_NE(X509_get0_authority_key_id(leaf.get()), nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf.get()),
                                  X509_get0_subject_key_id(ca.get())),
            0);
  EXPECT_TRUE(X509_get_extended_key_usage(leaf.get()) & XKU_SSL_SERVER);
  EXPECT_GE(X509_get_ext_by_NID(ca.get(), NID_basic_constraints, -1), 0);
  EXPECT_EQ(X509_EXTENSION_get_critical(
                X509_get_ext(ca.get(), X509_get_ext_by_NID(ca.get(), NID_basic_constraints, -1))),
            1);

  char cn[256];
  X509_NAME_get_text_by_NID(X509_get_subject_name(ca.get()), NID_commonName, cn, sizeof(cn));
  EXPECT_STREQ(cn, "agentproxy-webhook-ca");
  X509_NAME_get_text_by_NID(X509_get_subject_name(leaf.get()), NID_commonName, cn, sizeof(cn));
  EXPECT_EQ(cn, kDnsNames[0]);

  for (X509* cert : {ca.get(), leaf.get()}) {
    EXPECT_EQ(X509_get_signature_nid(cert), NID_ecdsa_with_SHA256);
    EVP_PKEY* key = X509_get0_pubkey(cert);
    EXPECT_TRUE(EVP_PKEY_is_a(key, "EC"));
    char group[64] = {0};
    size_t len = 0;
    EVP_PKEY_get_group_name(key, group, sizeof(group), &len);
    EXPECT_STREQ(group, "prime256v1");
    BIGNUM* serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
    EXPECT_EQ(BN_num_bits(serial), 128);
    EXPECT_FALSE(BN_is_negative(serial));
    BN_free(serial);
  }
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(ca.get()), X509_get0_serialNumber(leaf.get())),
            0);

  EXPECT_EQ(certs.keyPem.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);
  EXPECT_EQ(certs.caKeyPem.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);

  CertificateTimes caTimes = certificateTimes(certs.caCertPem);
  CertificateTimes times = certificateTimes(certs.certPem);
  EXPECT_EQ(caTimes.notBefore, now - 5min);
  EXPECT_EQ(times.notBefore, now - 5min);
  EXPECT_EQ(caTimes.notAfter, now + std::chrono::years{10});
  EXPECT_EQ(times.notAfter, now + std::chrono::years{1});
}

TEST(ServingCertificateTest, IpOnlyRequestUsesTheIpAsCommonName) {
  CertificateRequest request;
  request.ipAddresses = {"127.0.0.1"};
  request.now = system_clock::now();
  WebhookCertificates certs = createWebhookCertificates(request);
  EXPECT_TRUE(verifiesWith(certs.certPem, certs.caCertPem, "127.0.0.1", request.now));
  EXPECT_TRUE(coversNames(certs.certPem, {"127.0.0.1"}));
}

TEST(ServingCertificateTest, RenewalFromTheSameCaKeepsVerifying) {
  system_clock::time_point now = system_clock::now();
  WebhookCertificates certs = createWebhookCertificates(requestAt(now));
  system_clock::time_point later = now + 300 * 24h;
  ServingCertificate renewed =
      issueServingCertificate(certs.caCertPem, certs.caKeyPem, requestAt(later));
  for (const auto& name : kDnsNames) {
    EXPECT_TRUE(verifiesWith(renewed.certPem, certs.caCertPem, name, later)) << name;
  }
  EXPECT_TRUE(keyMatches(renewed.certPem, renewed.keyPem));
  EXPECT_FALSE(keyMatches(renewed.certPem, certs.keyPem));
  EXPECT_NE(renewed.keyPem, certs.keyPem);
  EXPECT_FALSE(needsRenewal(renewed.certPem, later));
  EXPECT_EQ(certificateTimes(renewed.certPem).notAfter,
            system_clock::from_time_t(system_clock::to_time_t(later + std::chrono::years{1})));
}

TEST(ServingCertificateTest, RenewedCertificateNeverOutlivesItsCa) {
  system_clock::time_point now = system_clock::now();
  CertificateRequest request = requestAt(now);
  request.caValidity = 400 * 24h;
  WebhookCertificates certs = createWebhookCertificates(request);
  ServingCertificate renewed =
      issueServingCertificate(certs.caCertPem, certs.caKeyPem, requestAt(now + 300 * 24h));
  EXPECT_EQ(certificateTimes(renewed.certPem).notAfter, certificateTimes(certs.caCertPem).notAfter);
}

TEST(ServingCertificateTest, NeedsRenewalAfterTwoThirdsOfItsLifetime) {
  system_clock::time_point now = system_clock::now();
  WebhookCertificates certs = createWebhookCertificates(requestAt(now));
  CertificateTimes times = certificateTimes(certs.certPem);
  auto at = [&](double fraction) {
    return times.notBefore + std::chrono::duration_cast<system_clock::duration>(
                                 (times.notAfter - times.notBefore) * fraction);
  };
  EXPECT_FALSE(needsRenewal(certs.certPem, now));
  EXPECT_FALSE(needsRenewal(certs.certPem, at(0.6)));
  EXPECT_TRUE(needsRenewal(certs.certPem, at(0.7)));
  EXPECT_TRUE(needsRenewal(certs.certPem, times.notAfter + 1s));
  EXPECT_TRUE(needsRenewal(certs.certPem, times.notBefore - 1h));  // not yet valid
  EXPECT_TRUE(needsRenewal("garbage", now));
  EXPECT_TRUE(needsRenewal("", now));
  EXPECT_FALSE(needsRenewal(certs.caCertPem, now));
}

TEST(ServingCertificateTest, KeyMatchesOnlyItsOwnCertificate) {
  WebhookCertificates a = createWebhookCertificates(requestAt(system_clock::now()));
  WebhookCertificates b = createWebhookCertificates(requestAt(system_clock::now()));
  EXPECT_TRUE(keyMatches(a.certPem, a.keyPem));
  EXPECT_TRUE(keyMatches(a.caCertPem, a.caKeyPem));
  EXPECT_FALSE(keyMatches(a.certPem, b.keyPem));
  EXPECT_FALSE(keyMatches(a.certPem, a.caKeyPem));
  EXPECT_FALSE(keyMatches(a.certPem, "garbage"));
  EXPECT_FALSE(keyMatches("garbage", a.keyPem));
}

TEST(ServingCertificateTest, EncryptedKeyIsNotUsableAndNeverPrompts) {
  WebhookCertificates a = createWebhookCertificates(requestAt(system_clock::now()));
  std::unique_ptr<BIO, decltype(&BIO_free)> in(BIO_new_mem_buf(a.keyPem.data(), -1), BIO_free);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr);
  ASSERT_NE(key, nullptr);
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  char password[] = "secret";
  PEM_write_bio_PKCS8PrivateKey(out.get(), key, EVP_aes_256_cbc(), password, 6, nullptr, nullptr);
  EVP_PKEY_free(key);
  char* data = nullptr;
  long len = BIO_get_mem_data(out.get(), &data);
  std::string encrypted(data, size_t(len));
  ASSERT_NE(encrypted.find("ENCRYPTED PRIVATE KEY"), std::string::npos);
  EXPECT_FALSE(keyMatches(a.certPem, encrypted));
}

TEST(ServingCertificateTest, CoversNames) {
  WebhookCertificates certs = createWebhookCertificates(requestAt(system_clock::now()));
  EXPECT_TRUE(coversNames(certs.certPem, kDnsNames));
  EXPECT_TRUE(coversNames(certs.certPem, {kDnsNames[1], kIps[1], kIps[0]}));
  EXPECT_TRUE(coversNames(certs.certPem, {}));
  EXPECT_FALSE(coversNames(certs.certPem, {kDnsNames[0], "agentproxy-webhook.other.svc"}));
  EXPECT_FALSE(coversNames(certs.certPem, {"10.96.0.21"}));
  EXPECT_FALSE(coversNames("garbage", kDnsNames));
}

TEST(ServingCertificateTest, VerifiesWithChecksTimeAndCa) {
  system_clock::time_point past = system_clock::from_time_t(1420070400);  // 2015-01-01
  CertificateRequest request = requestAt(past);
  request.certValidity = 30 * 24h;
  WebhookCertificates certs = createWebhookCertificates(request);
  WebhookCertificates other = createWebhookCertificates(requestAt(past));
  EXPECT_TRUE(verifiesWith(certs.certPem, certs.caCertPem, kDnsNames[0], past + 24h));
  EXPECT_FALSE(verifiesWith(certs.certPem, certs.caCertPem, kDnsNames[0], past + 31 * 24h));
  EXPECT_FALSE(verifiesWith(certs.certPem, certs.caCertPem, kDnsNames[0], system_clock::now()));
  EXPECT_FALSE(verifiesWith(certs.certPem, other.caCertPem, kDnsNames[0], past + 24h));
  EXPECT_TRUE(
      verifiesWith(certs.certPem, other.caCertPem + certs.caCertPem, kDnsNames[0], past + 24h));
  EXPECT_FALSE(verifiesWith("garbage", certs.caCertPem, kDnsNames[0], past + 24h));
  EXPECT_FALSE(verifiesWith(certs.certPem, "garbage", kDnsNames[0], past + 24h));
  // The CA itself may not serve TLS.
  EXPECT_FALSE(verifiesWith(certs.caCertPem, certs.caCertPem, kDnsNames[0], past + 24h));
  EXPECT_TRUE(needsRenewal(certs.certPem, system_clock::now()));
}

std::string errorOf(const std::function<void()>& call) {
  try {
    call();
  } catch (const TrustError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no TrustError";
  return {};
}

TEST(ServingCertificateTest, BadRequestsThrow) {
  CertificateRequest empty;
  empty.now = system_clock::now();
  EXPECT_NE(errorOf([&] { createWebhookCertificates(empty); }).find("at least one"),
            std::string::npos);

  CertificateRequest badName = requestAt(system_clock::now());
  badName.dnsNames.emplace_back("a,DNS:evil.example");
  EXPECT_NE(errorOf([&] { createWebhookCertificates(badName); }).find("a,DNS:evil.example"),
            std::string::npos);

  CertificateRequest badIp = requestAt(system_clock::now());
  badIp.ipAddresses = {"10.0.0.300"};
  EXPECT_NE(errorOf([&] { createWebhookCertificates(badIp); }).find("not an IP address"),
            std::string::npos);

  CertificateRequest zero = requestAt(system_clock::now());
  zero.certValidity = 0s;
  errorOf([&] { createWebhookCertificates(zero); });

  CertificateRequest wildcard = requestAt(system_clock::now());
  wildcard.dnsNames = {"*.agentproxy-system.svc"};
  WebhookCertificates certs = createWebhookCertificates(wildcard);
  EXPECT_TRUE(
      verifiesWith(certs.certPem, certs.caCertPem, "webhook.agentproxy-system.svc", wildcard.now));
}

TEST(ServingCertificateTest, UnusableCaThrowsWithoutQuotingTheKey) {
  system_clock::time_point now = system_clock::now();
  WebhookCertificates a = createWebhookCertificates(requestAt(now));
  WebhookCertificates b = createWebhookCertificates(requestAt(now));
  auto quotesKey = [](const std::string& message, const std::string& keyPem) {
    std::istringstream in(keyPem);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("-----", 0) != 0 && message.find(line) != std::string::npos) return true;
    }
    return false;
  };

  std::string message =
      errorOf([&] { issueServingCertificate(a.caCertPem, b.caKeyPem, requestAt(now)); });
  EXPECT_NE(message.find("does not belong"), std::string::npos) << message;
  EXPECT_FALSE(quotesKey(message, b.caKeyPem));

  message = errorOf([&] { issueServingCertificate(a.certPem, a.keyPem, requestAt(now)); });
  EXPECT_NE(message.find("not a CA"), std::string::npos) << message;

  message = errorOf([&] { issueServingCertificate(a.caCertPem, "garbage", requestAt(now)); });
  EXPECT_NE(message.find("CA key"), std::string::npos) << message;

  message = errorOf(
      [&] { issueServingCertificate(a.caCertPem, a.caKeyPem, requestAt(now + 11 * 366 * 24h)); });
  EXPECT_NE(message.find("expired"), std::string::npos) << message;

  EXPECT_THROW(certificateTimes(a.caKeyPem), TrustError);
  EXPECT_FALSE(quotesKey(errorOf([&] { certificateTimes(a.caKeyPem); }), a.caKeyPem));
}

}  // namespace
}  // namespace agentproxy::trust
