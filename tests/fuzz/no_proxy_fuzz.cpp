// NO_PROXY lists as policies write them (spec.proxy.noProxy, one entry per element; the input
// is split at commas and newlines). Property: the effective list keeps every cluster default
// and each entry once, and the warnings are computed without a crash.
#include <set>
#include <string>
#include <vector>

#include "fuzz_target.h"
#include "policy/no_proxy.h"

using namespace agentproxy::policy;
using agentproxy::fuzz::fuzzCheck;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = agentproxy::fuzz::asText(data, size);
  std::vector<std::string> entries;
  std::string current;
  for (char c : text) {
    if (c == ',' || c == '\n') {
      entries.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  entries.push_back(current);
  ClusterNetwork cluster{"10.96.0.1", {"10.96.0.0/12"}, {"10.244.0.0/16"}};
  auto effective = effectiveNoProxyEntries(entries, cluster);
  std::set<std::string> unique(effective.begin(), effective.end());
  fuzzCheck(unique.size() == effective.size(), "an entry appears twice in NO_PROXY");
  fuzzCheck(unique.count("10.96.0.1") == 1 && unique.count(".svc") == 1,
            "a cluster default is missing");
  (void)joinNoProxy(effective);
  ProxyPolicySpec spec;
  spec.httpsProxy = entries.front();
  spec.httpProxy = entries.back();
  spec.noProxy = entries;
  (void)runtimeWarnings(spec);
  return 0;
}
