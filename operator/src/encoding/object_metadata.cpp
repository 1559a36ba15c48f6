#include "encoding/object_metadata.h"

namespace agentproxy::encoding {
namespace {

const nlohmann::json* metadataField(const nlohmann::json& object, const char* field) {
  if (!object.is_object()) return nullptr;
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return nullptr;
  auto it = metadata->find(field);
  return it == metadata->end() ? nullptr : &*it;
}

}  // namespace

std::string metadataString(const nlohmann::json& object, const char* field) {
  const nlohmann::json* value = metadataField(object, field);
  return value && value->is_string() ? value->get<std::string>() : std::string();
}

std::map<std::string, std::string> metadataMap(const nlohmann::json& object, const char* field) {
  std::map<std::string, std::string> result;
  const nlohmann::json* map = metadataField(object, field);
  if (!map || !map->is_object()) return result;
  for (const auto& [name, value] : map->items()) {
    if (value.is_string()) result.emplace(name, value.get<std::string>());
  }
  return result;
}

}  // namespace agentproxy::encoding
