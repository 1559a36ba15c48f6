// RFC 6901 JSON Pointer tokens, as the injection webhook writes them into its JSON Patch (RFC
// 6902). Applying a patch is nlohmann's json::patch (the tests use it); nothing here applies
// one. Pure.
#pragma once

#include <string>
#include <string_view>

namespace agentproxy::injection {

// One reference token of a JSON Pointer: "~" becomes "~0" and "/" becomes "~1", so the
// annotation key agentproxy.io/policy is addressed as /metadata/annotations/agentproxy.io~1policy.
std::string escapePointerToken(std::string_view token);

}  // namespace agentproxy::injection
