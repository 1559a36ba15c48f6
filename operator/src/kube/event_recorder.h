// Recording Kubernetes Events (core/v1) about an object, as `kubectl describe` shows them.
//
// Guarantees: the first occurrence of (object, type, reason, message) creates an Event with
// involvedObject, reason, message, type, source.component, count 1 and first/lastTimestamp;
// a repeat within this recorder's memory merge-patches the same Event (count+1,
// lastTimestamp), as client-go's correlator does, and falls back to creating a new one when
// that Event is gone. Events of cluster-scoped objects go to the "default" namespace, where
// kubectl describe looks for them. record() never throws: an Event is best effort, and a
// failure is reported through the return value.
// Assumptions: the involved object is a full object JSON (apiVersion, kind, metadata).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "kube/timestamps.h"

namespace agentproxy::kube {

class Client;

enum class EventType { kNormal, kWarning };

class EventRecorder {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  // `component` is source.component (e.g. "agentproxy"); `clock` is for tests.
  EventRecorder(Client& client, std::string component, Clock clock = {});

  // Returns "" on success, otherwise why the Event could not be written.
  std::string record(const nlohmann::json& involvedObject, EventType type,
                     const std::string& reason, const std::string& message);

  // The Event JSON for a first occurrence (exposed for tests).
  nlohmann::json makeEvent(const nlohmann::json& involvedObject, EventType type,
                           const std::string& reason, const std::string& message,
                           const std::string& eventName,
                           std::chrono::system_clock::time_point now) const;

 private:
  struct Seen {
    std::string ns;
    std::string name;
    int count = 0;
    std::list<std::string>::iterator order;
  };

  Client& client_;
  std::string component_;
  Clock clock_;
  std::mutex mutex_;
  std::map<std::string, Seen> seen_;  // key: uid/name + type + reason + message
  std::list<std::string> order_;      // oldest first, bounded
  static constexpr size_t kMaxRemembered = 4096;
};

}  // namespace agentproxy::kube
