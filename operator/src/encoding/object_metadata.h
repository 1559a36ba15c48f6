// A Kubernetes object's metadata fields, read without throwing: the one reader of
// metadata.<field> for the kube client, the informers, the controller and the webhook.
//
// Guarantees: never throws on any JSON (a non-object, a missing or mistyped metadata or field
// gives the empty answer); no JSON pointer lookups (json::value with a pointer throws and
// catches inside when a member is missing: costly at thousands of objects).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

namespace agentproxy::encoding {

// metadata.<field> when it is a string, else "".
std::string metadataString(const nlohmann::json& object, const char* field);

// metadata.<field> (labels, annotations) as a string map; values that are not strings are
// left out; {} when there is no such object.
std::map<std::string, std::string> metadataMap(const nlohmann::json& object, const char* field);

}  // namespace agentproxy::encoding
