// PEM bundles as users give them (--target-ca, CA ConfigMaps). Property: what is accepted
// re-encodes to a bundle that is accepted again, unchanged.
#include <string>

#include "fuzz_target.h"
#include "probe/pem.h"
#include "probe/proxy_url.h"

using namespace agentproxy::probe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string pem(agentproxy::fuzz::asText(data, size));
  try {
    std::string certificates = parseCertificateBundle(pem, "fuzz input");
    agentproxy::fuzz::fuzzCheck(parseCertificateBundle(certificates, "re-encoded") == certificates,
                                "a re-encoded bundle changes when parsed again");
  } catch (const InputError&) {
  }
  return 0;
}
