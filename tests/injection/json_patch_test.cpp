// The JSON Pointer tokens the webhook's patches use, as nlohmann's RFC 6902 applier (the one
// the tests read patches with) reads them.
#include "injection/json_patch.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace agentproxy::injection {
namespace {

using nlohmann::json;

TEST(EscapePointerToken, EscapesTildeBeforeSlash) {
  EXPECT_EQ(escapePointerToken("agentproxy.io/policy"), "agentproxy.io~1policy");
  EXPECT_EQ(escapePointerToken("a~/b"), "a~0~1b");
  EXPECT_EQ(escapePointerToken("plain"), "plain");
}

TEST(EscapePointerToken, EscapedKeysAddressTheirMembersInAPatch) {
  json pod = {{"metadata", {{"annotations", json::object()}}}};
  json patch = json::array();
  for (const char* key : {"agentproxy.io/policy", "a~b", "a~/b/~c"}) {
    patch.push_back({{"op", "add"},
                     {"path", "/metadata/annotations/" + escapePointerToken(key)},
                     {"value", key}});
  }
  json result = pod.patch(patch);
  EXPECT_EQ(result["metadata"]["annotations"],
            json({{"agentproxy.io/policy", "agentproxy.io/policy"}, {"a~b", "a~b"},
                  {"a~/b/~c", "a~/b/~c"}}));
}

}  // namespace
}  // namespace agentproxy::injection
