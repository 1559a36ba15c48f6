#include "kube/event_recorder.h"

#include <cstdio>

#include "encoding/object_metadata.h"
#include "kube/client.h"

namespace agentproxy::kube {
namespace {

using encoding::metadataString;

std::string eventNamespace(const nlohmann::json& object) {
  std::string ns = metadataString(object, "namespace");
  return ns.empty() ? "default" : ns;
}

}  // namespace

EventRecorder::EventRecorder(Client& client, std::string component, Clock clock)
    : client_(client), component_(std::move(component)), clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return std::chrono::system_clock::now(); };
}

nlohmann::json EventRecorder::makeEvent(const nlohmann::json& involvedObject, EventType type,
                                        const std::string& reason, const std::string& message,
                                        const std::string& eventName,
                                        std::chrono::system_clock::time_point now) const {
  nlohmann::json ref = {{"apiVersion", involvedObject.value("apiVersion", "")},
                        {"kind", involvedObject.value("kind", "")},
                        {"name", metadataString(involvedObject, "name")}};
  if (std::string ns = metadataString(involvedObject, "namespace"); !ns.empty())
    ref["namespace"] = ns;
  if (std::string uid = metadataString(involvedObject, "uid"); !uid.empty()) ref["uid"] = uid;
  if (std::string rv = metadataString(involvedObject, "resourceVersion"); !rv.empty()) {
    ref["resourceVersion"] = rv;
  }
  std::string stamp = formatTime(now);
  return {{"apiVersion", "v1"},
          {"kind", "Event"},
          {"metadata", {{"name", eventName}, {"namespace", eventNamespace(involvedObject)}}},
          {"involvedObject", ref},
          {"reason", reason},
          {"message", message},
          {"type", type == EventType::kWarning ? "Warning" : "Normal"},
          {"source", {{"component", component_}}},
          {"reportingComponent", component_},
          {"count", 1},
          {"firstTimestamp", stamp},
          {"lastTimestamp", stamp}};
}

std::string EventRecorder::record(const nlohmann::json& involvedObject, EventType type,
                                  const std::string& reason, const std::string& message) {
  if (!involvedObject.is_object() || metadataString(involvedObject, "name").empty()) {
    return "cannot record an Event: the involved object has no metadata.name";
  }
  auto now = clock_();
  std::string objectKey = metadataString(involvedObject, "uid");
  if (objectKey.empty()) {
    objectKey = involvedObject.value("kind", "") + "/" +
                metadataString(involvedObject, "namespace") + "/" +
                metadataString(involvedObject, "name");
  }
  std::string key = objectKey + "\x1f" + (type == EventType::kWarning ? "W" : "N") + "\x1f" +
                    reason + "\x1f" + message;
  try {
    std::unique_lock lock(mutex_);
    if (auto it = seen_.find(key); it != seen_.end()) {
      Seen seen = it->second;
      lock.unlock();
      nlohmann::json patch = {{"count", seen.count + 1}, {"lastTimestamp", formatTime(now)}};
      try {
        client_.patch(resources::events(), seen.ns, seen.name, PatchType::kMerge, patch);
        lock.lock();
        if (auto again = seen_.find(key); again != seen_.end())
          again->second.count = seen.count + 1;
        return "";
      } catch (const NotFoundError&) {
        lock.lock();
        if (auto again = seen_.find(key); again != seen_.end()) {
          order_.erase(again->second.order);
          seen_.erase(again);
        }
        // Fall through: create a fresh Event.
      }
    }
    lock.unlock();
    char suffix[32];
    std::snprintf(
        suffix, sizeof suffix, ".%llx",
        static_cast<unsigned long long>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count()));
    std::string name = metadataString(involvedObject, "name") + suffix;
    std::string ns = eventNamespace(involvedObject);
    client_.create(resources::events(), ns,
                   makeEvent(involvedObject, type, reason, message, name, now));
    lock.lock();
    if (seen_.count(key) == 0) {
      order_.push_back(key);
      seen_[key] = Seen{ns, name, 1, std::prev(order_.end())};
      if (seen_.size() > kMaxRemembered) {
        seen_.erase(order_.front());
        order_.pop_front();
      }
    }
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

}  // namespace agentproxy::kube
