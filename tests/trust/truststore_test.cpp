#include "trust/truststore.h"

#include <gtest/gtest.h>
#include <openssl/objects.h>
#include <openssl/pkcs12.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <unistd.h>

#include "trust/serving_certificate.h"

namespace agentproxy::trust {
namespace {

std::string newCaPem(const std::string& name) {
  CertificateRequest request;
  request.dnsNames = {name};
  request.now = std::chrono::system_clock::now();
  return createWebhookCertificates(request).caCertPem;
}

struct Parsed {
  int bags = 0;
  int trusted = 0;  // bags with the JDK trusted-key-usage attribute = anyExtendedKeyUsage
  int named = 0;    // bags with a friendlyName
  bool mac = true;
};

Parsed parse(const std::string& der) {
  Parsed out;
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  PKCS12* p12 = d2i_PKCS12(nullptr, &p, static_cast<long>(der.size()));
  if (!p12) {
    ADD_FAILURE() << "not a PKCS12";
    return out;
  }
  out.mac = PKCS12_mac_present(p12);
  STACK_OF(PKCS7)* safes = PKCS12_unpack_authsafes(p12);
  ASN1_OBJECT* oid = OBJ_txt2obj(std::string(kJdkTrustedKeyUsageOid).c_str(), 1);
  for (int i = 0; safes && i < sk_PKCS7_num(safes); ++i) {
    PKCS7* safe = sk_PKCS7_value(safes, i);
    EXPECT_EQ(OBJ_obj2nid(safe->type), NID_pkcs7_data) << "an encrypted safe";
    STACK_OF(PKCS12_SAFEBAG)* bags = PKCS12_unpack_p7data(safe);
    for (int j = 0; bags && j < sk_PKCS12_SAFEBAG_num(bags); ++j) {
      const PKCS12_SAFEBAG* bag = sk_PKCS12_SAFEBAG_value(bags, j);
      EXPECT_EQ(PKCS12_SAFEBAG_get_nid(bag), NID_certBag);
      ++out.bags;
      if (PKCS12_get_friendlyname(const_cast<PKCS12_SAFEBAG*>(bag))) ++out.named;
      const auto* attrs = PKCS12_SAFEBAG_get0_attrs(bag);
      for (int k = 0; k < X509at_get_attr_count(attrs); ++k) {
        X509_ATTRIBUTE* attr = X509at_get_attr(attrs, k);
        if (OBJ_cmp(X509_ATTRIBUTE_get0_object(attr), oid) != 0) continue;
        ASN1_TYPE* value = X509_ATTRIBUTE_get0_type(attr, 0);
        if (value && value->type == V_ASN1_OBJECT &&
            OBJ_obj2nid(value->value.object) == NID_anyExtendedKeyUsage) {
          ++out.trusted;
        }
      }
    }
    sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
  }
  ASN1_OBJECT_free(oid);
  sk_PKCS7_pop_free(safes, PKCS7_free);
  PKCS12_free(p12);
  return out;
}

TEST(TruststoreTest, EveryCertificateIsATrustedEntryWithAnAliasAndNoPassword) {
  auto der = pkcs12Truststore(newCaPem("a.example") + newCaPem("b.example"));
  auto parsed = parse(der);
  EXPECT_EQ(parsed.bags, 2);
  EXPECT_EQ(parsed.trusted, 2);
  EXPECT_EQ(parsed.named, 2);
  EXPECT_FALSE(parsed.mac);
}

TEST(TruststoreTest, SameBundleSameBytes) {
  auto pem = newCaPem("a.example");
  EXPECT_EQ(pkcs12Truststore(pem), pkcs12Truststore(pem));
}

TEST(TruststoreTest, NoCertificateIsAClearError) {
  try {
    pkcs12Truststore("no certificate here\n");
    FAIL() << "no exception";
  } catch (const TrustError& e) {
    EXPECT_NE(std::string(e.what()).find("holds no certificate"), std::string::npos) << e.what();
  }
}

// What the JDK's own tool reads from it: every certificate a trustedCertEntry.
TEST(TruststoreTest, KeytoolListsTrustedCertificateEntries) {
  if (std::system("command -v keytool >/dev/null 2>&1") != 0) GTEST_SKIP() << "no keytool";
  auto path = std::filesystem::temp_directory_path() /
              ("agentproxy-truststore-" + std::to_string(::getpid()) + ".p12");
  {
    std::ofstream out(path, std::ios::binary);
    out << pkcs12Truststore(newCaPem("a.example") + newCaPem("b.example"));
  }
  std::string command = "keytool -list -storetype PKCS12 -storepass unused -keystore " +
                        path.string() + " 2>&1";
  std::string output;
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buffer[512];
    while (fgets(buffer, sizeof buffer, pipe)) output += buffer;
    pclose(pipe);
  }
  std::filesystem::remove(path);
  int entries = 0;
  for (size_t at = output.find("trustedCertEntry"); at != std::string::npos;
       at = output.find("trustedCertEntry", at + 1)) {
    ++entries;
  }
  EXPECT_EQ(entries, 2) << output;
}

}  // namespace
}  // namespace agentproxy::trust
