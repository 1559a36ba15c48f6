// The operator's copies (the Secrets and ConfigMaps it labels managed-by and annotates with
// the policy they belong to), by policy, as the metadata-only informers report them.
//
// Guarantees: it holds exactly the copies last reported and not deleted since, each as its
// metadata plus its kind (what planInjection compares); objects without both the label and
// the annotation (the webhook's certificate Secret, a user's object) are never held.
// Thread-safe: the informers write while workers read. Assumes ObjectRef names one object.
#pragma once

#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "controller/injection.h"

namespace agentproxy::controller {

class CopyTracker {
 public:
  // Whether `object` is one of the operator's copies.
  static bool isCopy(const nlohmann::json& object);
  // The policy a copy belongs to ("" when the annotation is empty).
  static std::string ownerOf(const nlohmann::json& object);

  // A copy of kind `kind` ("Secret", "ConfigMap") was added, changed or deleted.
  void changed(const std::string& kind, const nlohmann::json& object);
  void deleted(const std::string& kind, const nlohmann::json& object);

  std::vector<ObjectRef> refsOf(const std::string& policyName) const;
  // As planInjection reads them: metadata and kind.
  std::vector<nlohmann::json> objectsOf(const std::string& policyName) const;
  // The policies that have at least one copy.
  std::vector<std::string> owners() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::map<ObjectRef, nlohmann::json>> copies_;  // by policy name
};

}  // namespace agentproxy::controller
