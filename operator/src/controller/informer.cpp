#include "controller/informer.h"

#include <chrono>
#include <condition_variable>
#include <thread>

#include "encoding/object_metadata.h"
#include "kube/client.h"
#include "runtime/backoff.h"
#include "runtime/stop_aware_sleep.h"

namespace agentproxy::controller {

using encoding::metadataString;
using runtime::sleepUnlessStopped;

// Relists after a failure wait 1 s, then twice as long each time, up to 30 s (informer.h).
constexpr std::chrono::seconds kRelistBackoffInitial{1};
constexpr std::chrono::seconds kRelistBackoffMax{30};
namespace {

// Cached texts as trees, parsed outside the cache's lock so that readers do not hold up the
// watch.
std::vector<nlohmann::json> parseAll(const std::vector<std::string>& texts) {
  std::vector<nlohmann::json> out;
  out.reserve(texts.size());
  for (const auto& text : texts) out.push_back(nlohmann::json::parse(text));
  return out;
}

}  // namespace

Informer::Informer(kube::Client& client, kube::ResourceType type, Handlers handlers,
                   runtime::Logger& log, Trim trim, Fetch fetch)
    : client_(client),
      type_(std::move(type)),
      handlers_(std::move(handlers)),
      log_(log),
      trim_(std::move(trim)),
      fetch_(fetch) {}

nlohmann::json Informer::metadataOnly(const nlohmann::json& object) {
  return {{"metadata", object.value("metadata", nlohmann::json::object())}};
}

nlohmann::json Informer::withoutBookkeeping(const nlohmann::json& object) {
  nlohmann::json out = object;
  auto metadata = out.find("metadata");
  if (metadata == out.end() || !metadata->is_object()) return out;
  metadata->erase("managedFields");
  if (auto annotations = metadata->find("annotations");
      annotations != metadata->end() && annotations->is_object()) {
    annotations->erase("kubectl.kubernetes.io/last-applied-configuration");
  }
  return out;
}

nlohmann::json Informer::podEssentials(const nlohmann::json& pod) {
  nlohmann::json metadata = nlohmann::json::object();
  if (auto m = pod.find("metadata"); m != pod.end() && m->is_object()) {
    for (const char* key : {"name", "namespace", "uid", "resourceVersion", "labels", "annotations",
                            "ownerReferences"}) {
      if (auto it = m->find(key); it != m->end()) metadata[key] = *it;
    }
  }
  nlohmann::json out = withoutBookkeeping({{"metadata", std::move(metadata)}});
  auto hostNetwork = pod.value("/spec/hostNetwork"_json_pointer, nlohmann::json());
  if (hostNetwork.is_boolean()) out["spec"] = {{"hostNetwork", hostNetwork}};
  auto phase = pod.value("/status/phase"_json_pointer, nlohmann::json());
  if (phase.is_string()) out["status"] = {{"phase", phase}};
  return out;
}

nlohmann::json Informer::kept(const nlohmann::json& object) const {
  return trim_ ? trim_(object) : object;
}

Informer::Cached Informer::cached(const nlohmann::json& object) {
  Cached entry{metadataString(object, "resourceVersion"), object.dump()};
  entry.text.shrink_to_fit();  // dump() grows its string by doubling: up to twice the text
  return entry;
}

std::vector<nlohmann::json> Informer::listNamespace(const std::string& ns) const {
  const std::string prefix = ns + "/";
  std::vector<std::string> texts;
  {
    std::lock_guard lock(mutex_);
    for (auto it = cache_.lower_bound(prefix);
         it != cache_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      texts.push_back(it->second.text);
    }
  }
  return parseAll(texts);
}

std::string Informer::keyOf(const nlohmann::json& object) {
  auto ns = metadataString(object, "namespace");
  auto name = metadataString(object, "name");
  return ns.empty() ? name : ns + "/" + name;
}

std::optional<nlohmann::json> Informer::get(const std::string& key) const {
  std::string text;
  {
    std::lock_guard lock(mutex_);
    auto it = cache_.find(key);
    if (it == cache_.end()) return std::nullopt;
    text = it->second.text;
  }
  return nlohmann::json::parse(text);
}

std::vector<nlohmann::json> Informer::list() const {
  std::vector<std::string> texts;
  {
    std::lock_guard lock(mutex_);
    texts.reserve(cache_.size());
    for (const auto& [key, object] : cache_) texts.push_back(object.text);
  }
  return parseAll(texts);
}

bool Informer::synced() const {
  std::lock_guard lock(mutex_);
  return synced_;
}

std::string Informer::relist() {
  std::map<std::string, Cached> next;
  std::vector<std::string> changed;
  kube::ListOptions listOptions;
  listOptions.metadataOnly = fetch_ == Fetch::kMetadataOnly;
  auto version = client_.listEach(type_, "", listOptions, [&](nlohmann::json&& item) {
    auto key = keyOf(item);
    auto entry = cached(kept(item));
    {
      std::lock_guard lock(mutex_);
      auto it = cache_.find(key);
      if (it == cache_.end() || it->second.resourceVersion != entry.resourceVersion) {
        changed.push_back(key);
      }
    }
    next[key] = std::move(entry);
  });

  std::vector<std::string> deleted;
  {
    std::lock_guard lock(mutex_);
    for (auto& [key, old] : cache_) {
      if (!next.count(key)) deleted.push_back(std::move(old.text));
    }
    cache_ = std::move(next);
    synced_ = true;
  }
  for (const auto& o : parseAll(deleted)) handlers_.onDelete(o);
  // One at a time from the cache: a relist of thousands of objects never holds them all as trees.
  for (const auto& key : changed) {
    if (auto object = get(key)) handlers_.onUpsert(*object);
  }
  return version;
}

void Informer::run(std::stop_token stop) {
  runtime::Backoff backoff({kRelistBackoffInitial, kRelistBackoffMax});
  while (!stop.stop_requested()) {
    bool listing = true;
    try {
      auto version = relist();
      listing = false;
      backoff.reset();
      kube::WatchOptions options;
      options.resourceVersion = version;
      options.allowBookmarks = true;
      options.metadataOnly = fetch_ == Fetch::kMetadataOnly;
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
              cache_[key] = cached(kept(event.object));
            }
            handlers_.onUpsert(event.object);
          },
          stop);
    } catch (const kube::GoneError& e) {
      if (!listing) {
        log_.info("watch expired, listing again", {{"resource", type_.displayName()}});
        continue;
      }
      // The list itself expired (its continue token outlived the server's compaction): listing
      // again at once could spin against a busy server; back off as for any other failure.
      log_.warn("list expired, listing again after a pause",
                {{"resource", type_.displayName()}, {"error", e.what()}});
      if (!sleepUnlessStopped(stop, backoff.next())) return;
    } catch (const std::exception& e) {
      log_.warn("list/watch failed", {{"resource", type_.displayName()}, {"error", e.what()}});
      if (!sleepUnlessStopped(stop, backoff.next())) return;
    }
  }
}

}  // namespace agentproxy::controller
