// A Kubernetes API client: get, list, watch, create, update, patch and delete of any resource,
// over HTTPS with a bearer token or a client certificate.
//
// Guarantees:
// - Every request has a deadline (ClientOptions::requestTimeout) covering connect, TLS, the
//   answer and its body; when it passes, TimeoutError.
// - 429 TooManyRequests and 5xx answers are retried up to ClientOptions::maxRetries times,
//   after the server's Retry-After (capped at maxRetryAfter) or an exponential backoff. A
//   retried create that had in fact succeeded surfaces as AlreadyExists, a retried update as
//   Conflict: a level-based reconciler handles both. Other errors are thrown at once as the
//   ApiError subclass for their kind (errors.h).
// - A 401 with a token file re-reads the token and retries once (bound tokens rotate; watches
//   too); the token file is also re-read whenever its mtime, size or inode changes.
// - watch() delivers events in the server's order on the caller's thread, and resumes from
//   the last resourceVersion it saw when the stream breaks (connection drop, 5xx, 429,
//   server-side timeout), with backoff; so it neither misses nor repeats an event across a
//   reconnect. 410 Gone (HTTP or an ERROR event) is thrown as GoneError: the caller re-lists.
// - Thread-safe: one Client serves concurrent calls from many threads.
// - cpprestsdk, Boost and OpenSSL stay behind the pimpl: this header pulls in only the
//   standard library and nlohmann/json.
// Assumptions: a Client outlives every call on it (stop its watches before destroying it).
// Bodies are JSON (Content-Type application/json, or the patch types below).
// cpprestsdk's thread pool is sized by configureHttpThreads() (default 4) before the first
// Client exists.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "kube/config.h"
#include "kube/errors.h"
#include "kube/resource.h"
#include "kube/watch_event.h"

namespace agentproxy::kube {

struct ClientOptions {
  std::chrono::milliseconds requestTimeout{30000};
  int maxRetries = 5;  // for 429 and 5xx answers
  std::chrono::milliseconds retryBaseDelay{200};
  std::chrono::milliseconds retryMaxDelay{5000};
  std::chrono::seconds maxRetryAfter{30};
  std::string userAgent = "agentproxy";
};

struct ListOptions {
  std::string labelSelector;  // LabelSelector::toString() syntax
  std::string fieldSelector;  // e.g. "metadata.name=foo,status.phase!=Running"
  int64_t limit = 0;          // page size; 0: the server's default (everything)
  std::string continueToken;  // from the previous page
  std::string resourceVersion;
  // Only each object's metadata (PartialObjectMetadataList, by the Accept header): the server
  // never sends the data of Secrets and ConfigMaps listed this way.
  bool metadataOnly = false;
};

struct ObjectList {
  std::vector<nlohmann::json> items;
  std::string resourceVersion;  // of the list: watch from here
  std::string continueToken;    // "" on the last page
};

enum class PatchType {
  kMerge,           // application/merge-patch+json (RFC 7386)
  kJson,            // application/json-patch+json (RFC 6902), the patch is an array
  kStrategicMerge,  // application/strategic-merge-patch+json (built-in types only)
  kApply,           // application/apply-patch+yaml (server-side apply; needs fieldManager)
};

struct PatchOptions {
  std::string subresource;   // "status" to patch the status subresource
  std::string fieldManager;  // required by kApply
  bool force = false;        // kApply: take over conflicting fields
};

struct DeleteOptions {
  std::string propagationPolicy;  // Foreground, Background, Orphan; "" for the default
  std::optional<int64_t> gracePeriodSeconds;
  std::string preconditionUid;
  std::string preconditionResourceVersion;  // a stale one gives ConflictError
};

struct WatchOptions {
  std::string labelSelector;
  std::string fieldSelector;
  std::string resourceVersion;  // start after this version (the list's); "" = current state
  int timeoutSeconds = 300;     // per connection; the watch then reconnects by itself
  bool allowBookmarks = true;
  // Events carry only each object's metadata (PartialObjectMetadata, by the Accept header).
  bool metadataOnly = false;
  // Consecutive failed connections before the last error is thrown; nullopt: never give up.
  std::optional<int> maxConsecutiveFailures;
  std::chrono::milliseconds initialBackoff{100};
  std::chrono::milliseconds maxBackoff{10000};
  // Called (on the watching thread) before each reconnect, with the reason; for logs.
  std::function<void(const std::string& reason)> onReconnect;
};

// Sizes cpprestsdk's shared thread pool. Effective only before the first request of the
// process (later calls return false and change nothing).
bool configureHttpThreads(size_t threads);

class Client {
 public:
  explicit Client(Config config, ClientOptions options = {});
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  const Config& config() const;

  nlohmann::json get(const ResourceType& type, std::string_view ns, std::string_view name);
  // Only the object's metadata (PartialObjectMetadata): never its data.
  nlohmann::json getMetadata(const ResourceType& type, std::string_view ns, std::string_view name);

  // One page.
  ObjectList list(const ResourceType& type, std::string_view ns, const ListOptions& options = {});
  // Every page, following continue tokens (page size options.limit, 500 when 0); the
  // resourceVersion is the first page's (the snapshot all pages come from). An expired
  // continue token is GoneError: re-list.
  ObjectList listAll(const ResourceType& type, std::string_view ns, ListOptions options = {});
  // Like listAll, but hands each item to `onItem` as its page arrives instead of keeping them
  // all; returns the list's resourceVersion.
  std::string listEach(const ResourceType& type, std::string_view ns, ListOptions options,
                       const std::function<void(nlohmann::json&& item)>& onItem);

  nlohmann::json create(const ResourceType& type, std::string_view ns,
                        const nlohmann::json& object);
  // PUT: replaces the object; a stale metadata.resourceVersion gives ConflictError.
  nlohmann::json update(const ResourceType& type, std::string_view ns, std::string_view name,
                        const nlohmann::json& object);
  // PUT to the status subresource.
  nlohmann::json updateStatus(const ResourceType& type, std::string_view ns, std::string_view name,
                              const nlohmann::json& object);
  nlohmann::json patch(const ResourceType& type, std::string_view ns, std::string_view name,
                       PatchType patchType, const nlohmann::json& patch,
                       const PatchOptions& options = {});
  nlohmann::json patchStatus(const ResourceType& type, std::string_view ns, std::string_view name,
                             PatchType patchType, const nlohmann::json& patch);
  // Returns what the server answered: the object (being deleted, with finalizers) or a Status.
  nlohmann::json remove(const ResourceType& type, std::string_view ns, std::string_view name,
                        const DeleteOptions& options = {});

  // Any other path (/version, /healthz, discovery), with the same auth, deadline and retry
  // policy; `body` null for none. Returns the JSON answer ({} for an empty one).
  nlohmann::json request(const std::string& verb, const std::string& pathAndQuery,
                         const nlohmann::json* body = nullptr);

  // For shutdown: from now on no request waits to be retried (429, 5xx); a retry wait in
  // progress wakes at once and its call throws the error it was waiting to retry. So a drain
  // after SIGTERM is not held up by Retry-After or backoff past the pod's grace period.
  void stopRetries();

  // Blocks, calling onEvent for each ADDED, MODIFIED, DELETED and BOOKMARK event, until
  // `stop` is requested (returns the last resourceVersion seen), onEvent throws (rethrown),
  // the server says Gone (GoneError), an error that retrying cannot fix (401, 403, 404, 400:
  // thrown), or maxConsecutiveFailures is exceeded (the last error is thrown).
  std::string watch(const ResourceType& type, std::string_view ns, const WatchOptions& options,
                    const std::function<void(const WatchEvent&)>& onEvent,
                    const std::stop_token& stop = {});

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace agentproxy::kube
