#include "trust/truststore.h"

#include <openssl/objects.h>
#include <openssl/pkcs12.h>

#include <memory>

#include "trust/openssl_handles.h"

namespace agentproxy::trust {
namespace {

using detail::opensslReason;

struct BagsFree {
  void operator()(STACK_OF(PKCS12_SAFEBAG) * p) const {
    sk_PKCS12_SAFEBAG_pop_free(p, PKCS12_SAFEBAG_free);
  }
};
struct SafesFree {
  void operator()(STACK_OF(PKCS7) * p) const { sk_PKCS7_pop_free(p, PKCS7_free); }
};
struct Pkcs12Free {
  void operator()(PKCS12* p) const { PKCS12_free(p); }
};
struct ObjectFree {
  void operator()(ASN1_OBJECT* p) const { ASN1_OBJECT_free(p); }
};

[[noreturn]] void fail(const std::string& what) {
  throw TrustError("cannot write the PKCS12 truststore: " + what + " (" + opensslReason() + ")");
}

}  // namespace

std::string pkcs12Truststore(std::string_view pem) {
  auto certificates = detail::readCertificates(pem);
  if (certificates.empty()) {
    throw TrustError("cannot write the PKCS12 truststore: the CA bundle holds no certificate");
  }
  std::unique_ptr<ASN1_OBJECT, ObjectFree> anyUsage(OBJ_nid2obj(NID_anyExtendedKeyUsage));
  std::unique_ptr<STACK_OF(PKCS12_SAFEBAG), BagsFree> bags(sk_PKCS12_SAFEBAG_new_null());
  if (!bags) fail("out of memory");
  int index = 0;
  for (auto& cert : certificates) {
    PKCS12_SAFEBAG* bag = PKCS12_SAFEBAG_create_cert(cert.get());
    if (!bag) fail("a certificate bag");
    if (!sk_PKCS12_SAFEBAG_push(bags.get(), bag)) {
      PKCS12_SAFEBAG_free(bag);
      fail("out of memory");
    }
    auto alias = "agentproxy-ca-" + std::to_string(index++);
    if (!PKCS12_add_friendlyname_asc(bag, alias.c_str(), -1)) fail("the friendlyName");
    // ASN1_TYPE_set1 copies the object: len -1 with V_ASN1_OBJECT passes the object itself.
    if (!PKCS12_add1_attr_by_txt(bag, std::string(kJdkTrustedKeyUsageOid).c_str(),
                                 V_ASN1_OBJECT,
                                 reinterpret_cast<const unsigned char*>(anyUsage.get()), -1)) {
      fail("the JDK trusted-key-usage attribute");
    }
  }
  std::unique_ptr<STACK_OF(PKCS7), SafesFree> safes(sk_PKCS7_new_null());
  PKCS7* data = PKCS12_pack_p7data(bags.get());
  if (!safes || !data) fail("the certificates' safe");
  if (!sk_PKCS7_push(safes.get(), data)) {
    PKCS7_free(data);
    fail("out of memory");
  }
  std::unique_ptr<PKCS12, Pkcs12Free> p12(PKCS12_add_safes(safes.get(), NID_pkcs7_data));
  if (!p12) fail("the PKCS12 structure");
  unsigned char* der = nullptr;
  int length = i2d_PKCS12(p12.get(), &der);
  if (length <= 0) fail("its DER encoding");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(length));
  OPENSSL_free(der);
  return out;
}

}  // namespace agentproxy::trust
