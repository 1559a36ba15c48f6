#include "controller/copy_tracker.h"

#include "controller/informer.h"
#include "encoding/object_metadata.h"

namespace agentproxy::controller {
namespace {

ObjectRef refOf(const std::string& kind, const nlohmann::json& object) {
  return {kind, encoding::metadataString(object, "namespace"),
          encoding::metadataString(object, "name")};
}

}  // namespace

bool CopyTracker::isCopy(const nlohmann::json& object) {
  return encoding::metadataMap(object, "labels")[std::string(kManagedByLabel)] == kManagedByValue &&
         encoding::metadataMap(object, "annotations").count(std::string(kCopyOfAnnotation)) > 0;
}

std::string CopyTracker::ownerOf(const nlohmann::json& object) {
  return encoding::metadataMap(object, "annotations")[std::string(kCopyOfAnnotation)];
}

void CopyTracker::changed(const std::string& kind, const nlohmann::json& object) {
  auto kept = Informer::metadataOnly(object);
  kept["kind"] = kind;
  std::lock_guard lock(mutex_);
  copies_[ownerOf(object)][refOf(kind, object)] = std::move(kept);
}

void CopyTracker::deleted(const std::string& kind, const nlohmann::json& object) {
  std::lock_guard lock(mutex_);
  auto it = copies_.find(ownerOf(object));
  if (it == copies_.end()) return;
  it->second.erase(refOf(kind, object));
  if (it->second.empty()) copies_.erase(it);
}

std::vector<ObjectRef> CopyTracker::refsOf(const std::string& policyName) const {
  std::vector<ObjectRef> refs;
  std::lock_guard lock(mutex_);
  if (auto it = copies_.find(policyName); it != copies_.end()) {
    for (const auto& [ref, object] : it->second) refs.push_back(ref);
  }
  return refs;
}

std::vector<nlohmann::json> CopyTracker::objectsOf(const std::string& policyName) const {
  std::vector<nlohmann::json> objects;
  std::lock_guard lock(mutex_);
  if (auto it = copies_.find(policyName); it != copies_.end()) {
    for (const auto& [ref, object] : it->second) objects.push_back(object);
  }
  return objects;
}

std::vector<std::string> CopyTracker::owners() const {
  std::vector<std::string> out;
  std::lock_guard lock(mutex_);
  for (const auto& [owner, refs] : copies_) {
    if (!refs.empty()) out.push_back(owner);
  }
  return out;
}

}  // namespace agentproxy::controller
