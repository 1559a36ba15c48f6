// An informer in the client-go sense: lists a resource, then watches from the list's
// resourceVersion, keeping an in-memory cache and telling handlers what changed.
//
// Guarantees: handlers see every change at least once and in order per object; a re-list
// (after 410 Gone, or after the watch fails for good) reports objects that vanished meanwhile
// as deletions and only objects whose resourceVersion changed as updates; bookmarks only
// advance the version. Other failures re-list with exponential backoff (1 s to 30 s).
// Handlers run on the informer's thread and must be quick (they enqueue keys).
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "kube/resource.h"
#include "runtime/logger.h"

namespace agentproxy::kube {
class Client;
}

namespace agentproxy::controller {

class Informer {
 public:
  struct Handlers {
    std::function<void(const nlohmann::json&)> onUpsert;
    std::function<void(const nlohmann::json&)> onDelete;
  };

  // What the cache keeps of an object; empty keeps it whole.
  using Trim = std::function<nlohmann::json(const nlohmann::json&)>;
  // Only metadata: for Secrets, whose data the controller must not hold, when all it needs is
  // to know that one changed; for ConfigMaps, whose data can be large.
  static nlohmann::json metadataOnly(const nlohmann::json& object);
  // The object without what the API server adds for its own bookkeeping and the controller
  // never reads, which can be larger than the object: metadata.managedFields and kubectl's
  // last-applied-configuration annotation (a copy of the whole object as applied).
  static nlohmann::json withoutBookkeeping(const nlohmann::json& object);
  // Of a pod, what the controller reads: name, namespace, uid, resourceVersion, labels,
  // annotations, owners, spec.hostNetwork and status.phase.
  static nlohmann::json podEssentials(const nlohmann::json& pod);

  // What the informer asks the API server for.
  enum class Fetch {
    kWholeObjects,
    // Metadata only (PartialObjectMetadata): the data of Secrets and ConfigMaps never reaches
    // the operator; it reads the few it needs by name.
    kMetadataOnly,
  };

  Informer(kube::Client& client, kube::ResourceType type, Handlers handlers, runtime::Logger& log,
           Trim trim = {}, Fetch fetch = Fetch::kWholeObjects);

  // Blocks until `stop` is requested.
  void run(std::stop_token stop);

  // "namespace/name", or "name" for cluster-scoped objects.
  static std::string keyOf(const nlohmann::json& object);
  std::optional<nlohmann::json> get(const std::string& key) const;
  std::vector<nlohmann::json> list() const;
  // The objects of one namespace (a range of the cache: cheap however many others there are).
  std::vector<nlohmann::json> listNamespace(const std::string& ns) const;
  // Whether the first list has been loaded.
  bool synced() const;

 private:
  std::string relist();
  nlohmann::json kept(const nlohmann::json& object) const;

  kube::Client& client_;
  kube::ResourceType type_;
  Handlers handlers_;
  runtime::Logger& log_;
  Trim trim_;
  Fetch fetch_;
  mutable std::mutex mutex_;
  // Objects as compact JSON text, parsed when read: a tree costs five to six times the memory of
  // its text (1,000 policies with status: about 18 MB against 3), and reads are rare next to it.
  struct Cached {
    std::string resourceVersion;
    std::string text;
  };
  static Cached cached(const nlohmann::json& object);
  std::map<std::string, Cached> cache_;
  bool synced_ = false;
};

}  // namespace agentproxy::controller
