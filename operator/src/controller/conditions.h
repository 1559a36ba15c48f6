// metav1.Condition and meta.SetStatusCondition's semantics. Pure.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace agentproxy::controller {

struct Condition {
  std::string type;
  std::string status;  // "True", "False", "Unknown"
  std::string reason;  // CamelCase
  std::string message;
  int64_t observedGeneration = 0;
  std::string lastTransitionTime;  // RFC 3339

  bool operator==(const Condition&) const = default;
};

// Sets `incoming` in `conditions` as meta.SetStatusCondition does: lastTransitionTime moves to
// `now` only when status changes (or the condition is new); reason, message and
// observedGeneration are updated in place. Returns whether anything changed.
bool setStatusCondition(std::vector<Condition>& conditions, Condition incoming,
                        const std::string& now);

const Condition* findCondition(const std::vector<Condition>& conditions, std::string_view type);

nlohmann::json conditionsToJson(const std::vector<Condition>& conditions);
// Skips entries that are not objects with a type; never throws on a malformed status.
std::vector<Condition> conditionsFromJson(const nlohmann::json& array);

}  // namespace agentproxy::controller
