#include "controller/conditions.h"

#include <nlohmann/json.hpp>

namespace agentproxy::controller {

bool setStatusCondition(std::vector<Condition>& conditions, Condition incoming,
                        const std::string& now) {
  for (auto& existing : conditions) {
    if (existing.type != incoming.type) continue;
    incoming.lastTransitionTime =
        existing.status != incoming.status || existing.lastTransitionTime.empty()
            ? now
            : existing.lastTransitionTime;
    if (existing == incoming) return false;
    existing = std::move(incoming);
    return true;
  }
  incoming.lastTransitionTime = now;
  conditions.push_back(std::move(incoming));
  return true;
}

const Condition* findCondition(const std::vector<Condition>& conditions, std::string_view type) {
  for (const auto& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

nlohmann::json conditionsToJson(const std::vector<Condition>& conditions) {
  auto out = nlohmann::json::array();
  for (const auto& c : conditions) {
    out.push_back({{"type", c.type},
                   {"status", c.status},
                   {"observedGeneration", c.observedGeneration},
                   {"lastTransitionTime", c.lastTransitionTime},
                   {"reason", c.reason},
                   {"message", c.message}});
  }
  return out;
}

std::vector<Condition> conditionsFromJson(const nlohmann::json& array) {
  std::vector<Condition> out;
  if (!array.is_array()) return out;
  auto text = [](const nlohmann::json& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  for (const auto& item : array) {
    if (!item.is_object() || text(item, "type").empty()) continue;
    Condition c{text(item, "type"),
                text(item, "status"),
                text(item, "reason"),
                text(item, "message"),
                0,
                text(item, "lastTransitionTime")};
    if (auto g = item.find("observedGeneration"); g != item.end() && g->is_number_integer()) {
      c.observedGeneration = g->get<int64_t>();
    }
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace agentproxy::controller
