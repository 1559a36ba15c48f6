// kubeconfig files (YAML) as users have them. Property: a parsed config has a server URL;
// everything else is a ConfigError. Relative paths resolve under a directory that does not
// exist, so no file is read.
#include "fuzz_target.h"
#include "kube/config.h"
#include "kube/errors.h"

using namespace agentproxy::kube;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    Config config = parseKubeconfig(agentproxy::fuzz::asText(data, size),
                                    "/nonexistent-fuzz-dir/kubeconfig");
    agentproxy::fuzz::fuzzCheck(config.server.rfind("https://", 0) == 0 ||
                                    config.server.rfind("http://", 0) == 0,
                                "a config without an http(s) server URL");
  } catch (const ConfigError&) {
  }
  return 0;
}
