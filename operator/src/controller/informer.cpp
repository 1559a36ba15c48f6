#include "controller/informer.h"

#include <chrono>
#include <condition_variable>
#include <thread>

#include "kube/client.h"

namespace agentproxy::controller {
namespace {

std::string resourceVersionOf(const nlohmann::json& object) {
  return object.value("/metadata/resourceVersion"_json_pointer, std::string());
}

// Sleeps for `delay` unless stop is requested first; returns whether to go on.
bool sleepUnlessStopped(std::stop_token stop, std::chrono::milliseconds delay) {
  std::mutex m;
  std::condition_variable_any cv;
  std::unique_lock lock(m);
  return !cv.wait_for(lock, stop, delay, [] { return false; }) && !stop.stop_requested();
}

}  // namespace

Informer::Informer(kube::Client& client, kube::ResourceType type, Handlers handlers,
                   runtime::Logger& log, Trim trim)
    : client_(client),
      type_(std::move(type)),
      handlers_(std::move(handlers)),
      log_(log),
      trim_(std::move(trim)) {}

nlohmann::json Informer::metadataOnly(const nlohmann::json& object) {
  return {{"metadata", object.value("metadata", nlohmann::json::object())}};
}

nlohmann::json Informer::kept(const nlohmann::json& object) const {
  return trim_ ? trim_(object) : object;
}

std::vector<nlohmann::json> Informer::listNamespace(const std::string& ns) const {
  const std::string prefix = ns + "/";
  std::vector<nlohmann::json> out;
  std::lock_guard lock(mutex_);
  for (auto it = cache_.lower_bound(prefix);
       it != cache_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    out.push_back(it->second);
  }
  return out;
}

std::string Informer::keyOf(const nlohmann::json& object) {
  auto ns = object.value("/metadata/namespace"_json_pointer, std::string());
  auto name = object.value("/metadata/name"_json_pointer, std::string());
  return ns.empty() ? name : ns + "/" + name;
}

std::optional<nlohmann::json> Informer::get(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto it = cache_.find(key);
  return it == cache_.end() ? std::nullopt : std::optional<nlohmann::json>(it->second);
}

std::vector<nlohmann::json> Informer::list() const {
  std::lock_guard lock(mutex_);
  std::vector<nlohmann::json> out;
  for (const auto& [key, object] : cache_) out.push_back(object);
  return out;
}

bool Informer::synced() const {
  std::lock_guard lock(mutex_);
  return synced_;
}

std::string Informer::relist() {
  std::map<std::string, nlohmann::json> next;
  auto version = client_.listEach(type_, "", {},
                                  [&](nlohmann::json&& item) { next[keyOf(item)] = kept(item); });

  std::vector<nlohmann::json> deleted, changed;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, old] : cache_) {
      if (!next.count(key)) deleted.push_back(old);
    }
    for (const auto& [key, object] : next) {
      auto it = cache_.find(key);
      if (it == cache_.end() || resourceVersionOf(it->second) != resourceVersionOf(object)) {
        changed.push_back(object);
      }
    }
    cache_ = std::move(next);
    synced_ = true;
  }
  for (const auto& o : deleted) handlers_.onDelete(o);
  for (const auto& o : changed) handlers_.onUpsert(o);
  return version;
}

void Informer::run(std::stop_token stop) {
  auto backoff = std::chrono::milliseconds(1000);
  while (!stop.stop_requested()) {
    try {
      auto version = relist();
      backoff = std::chrono::milliseconds(1000);
      kube::WatchOptions options;
      options.resourceVersion = version;
      options.allowBookmarks = true;
      options.maxConsecutiveFailures = 10;
      options.onReconnect = [&](const std::string& reason) {
        log_.debug("watch reconnecting", {{"resource", type_.displayName()}, {"reason", reason}});
      };
      client_.watch(
          type_, "", options,
          [&](const kube::WatchEvent& event) {
            if (event.type == kube::WatchEventType::kBookmark) return;
            auto key = keyOf(event.object);
            if (event.type == kube::WatchEventType::kDeleted) {
              {
                std::lock_guard lock(mutex_);
                cache_.erase(key);
              }
              handlers_.onDelete(event.object);
              return;
            }
            {
              std::lock_guard lock(mutex_);
              cache_[key] = kept(event.object);
            }
            handlers_.onUpsert(event.object);
          },
          stop);
    } catch (const kube::GoneError&) {
      log_.info("watch expired, listing again", {{"resource", type_.displayName()}});
    } catch (const std::exception& e) {
      log_.warn("list/watch failed", {{"resource", type_.displayName()}, {"error", e.what()}});
      if (!sleepUnlessStopped(stop, backoff)) return;
      backoff = std::min(backoff * 2, std::chrono::milliseconds(30000));
    }
  }
}

}  // namespace agentproxy::controller
