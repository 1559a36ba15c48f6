// RFC 6902 JSON Patch and RFC 6901 JSON Pointer, as much as the injection webhook emits: add,
// replace and remove on objects and arrays, with "-" to append to an array. Pure.
//
// Guarantees: applyJsonPatch() applies every operation in order to a copy and returns it, or
// throws PatchError naming the operation's index and path; the input document is never
// modified. Operations other than add, replace and remove (move, copy, test) are rejected.
// Assumes array indices are written in canonical form ("0", "12", never "01").
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <stdexcept>
#include <string>
#include <string_view>

namespace agentproxy::injection {

class PatchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One reference token of a JSON Pointer: "~" becomes "~0" and "/" becomes "~1", so the
// annotation key agentproxy.io/policy is addressed as /metadata/annotations/agentproxy.io~1policy.
std::string escapePointerToken(std::string_view token);

// Throws PatchError.
nlohmann::json applyJsonPatch(const nlohmann::json& document, const nlohmann::json& patch);

}  // namespace agentproxy::injection
