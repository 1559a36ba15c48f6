// Durations as policies and flags write them ("10s", "1m30s"). Property: a parsed duration is
// positive.
#include "fuzz_target.h"
#include "probe/duration.h"
#include "probe/proxy_url.h"

using namespace agentproxy::probe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto d = parseDuration(agentproxy::fuzz::asText(data, size));
    agentproxy::fuzz::fuzzCheck(d.count() > 0, "a parsed duration is not positive");
  } catch (const InputError&) {
  }
  return 0;
}
