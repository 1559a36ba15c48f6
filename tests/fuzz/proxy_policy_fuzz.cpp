// ProxyPolicy objects as the API server hands them over (JSON). Property: a parsed policy's
// effective NO_PROXY and warnings are computed without a crash; anything else is a SpecError.
#include <nlohmann/json.hpp>

#include "fuzz_target.h"
#include "policy/no_proxy.h"
#include "policy/proxy_policy.h"

using namespace agentproxy::policy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto object = nlohmann::json::parse(agentproxy::fuzz::asText(data, size), nullptr,
                                      /*allow_exceptions=*/false);
  if (object.is_discarded()) return 0;
  try {
    ProxyPolicy policy = parseProxyPolicy(object);
    agentproxy::fuzz::fuzzCheck(!policy.spec.targets.empty(), "a policy without targets");
    agentproxy::fuzz::fuzzCheck(!policy.spec.httpsProxy.empty(), "a policy without a proxy");
    (void)effectiveNoProxyEntries(policy.spec.noProxy, {"10.96.0.1", {"10.96.0.0/12"}, {}});
    (void)runtimeWarnings(policy.spec);
  } catch (const SpecError&) {
  }
  return 0;
}
