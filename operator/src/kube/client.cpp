// cpprestsdk's U() macro clashes with GoogleTest and others; _XPLATSTR is used instead.
#ifndef _TURN_OFF_PLATFORM_STRING
#define _TURN_OFF_PLATFORM_STRING
#endif

#include "kube/client.h"

#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>
#include <cpprest/producerconsumerstream.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pplx/threadpool.h>
#include <sys/stat.h>

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "encoding/files.h"
#include "encoding/object_metadata.h"
#include "runtime/backoff.h"
#include "runtime/stop_aware_sleep.h"

namespace agentproxy::kube {
namespace {

namespace http = web::http;
namespace http_client = web::http::client;

constexpr size_t kDefaultHttpThreads = 4;
constexpr int64_t kDefaultPageSize = 500;

// Accept headers: whole objects, or their metadata only (the server transforms the answer; the
// plain JSON after the comma is what a server without the transformation would send instead).
constexpr char kAcceptJson[] = "application/json";
constexpr char kAcceptMetadata[] =
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";
constexpr char kAcceptMetadataList[] =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

std::once_flag gThreadPoolOnce;
bool gThreadPoolConfigured = false;

bool initThreadPool(size_t threads) {
  bool configured = false;
  std::call_once(gThreadPoolOnce, [&] {
    try {
      crossplat::threadpool::initialize_with_threads(threads);
      configured = true;
    } catch (...) {
      // Someone (a listener) created the pool first; it keeps its size.
    }
    gThreadPoolConfigured = true;
  });
  return configured;
}

// The bearer token, re-read from its file when the file changes.
class TokenSource {
 public:
  TokenSource(std::string token, std::filesystem::path file)
      : token_(std::move(token)), file_(std::move(file)) {}

  std::string current() {
    if (file_.empty()) return token_;
    std::lock_guard lock(mutex_);
    struct stat st {};
    if (::stat(file_.c_str(), &st) == 0) {
      bool changed = !loaded_ || st.st_mtim.tv_sec != mtime_.tv_sec ||
                     st.st_mtim.tv_nsec != mtime_.tv_nsec || st.st_size != size_ ||
                     st.st_ino != inode_;
      if (changed) {
        if (auto text = encoding::readFile(file_)) {
          fileToken_ = std::move(*text);
          while (!fileToken_.empty() && (fileToken_.back() == '\n' || fileToken_.back() == '\r' ||
                                         fileToken_.back() == ' ')) {
            fileToken_.pop_back();
          }
          mtime_ = st.st_mtim;
          size_ = st.st_size;
          inode_ = st.st_ino;
          loaded_ = true;
        }
      }
    }
    // A file that vanished for a moment (an atomic symlink swap) keeps the last token.
    return loaded_ ? fileToken_ : token_;
  }

  bool fromFile() const { return !file_.empty(); }

  void invalidate() {
    std::lock_guard lock(mutex_);
    loaded_ = false;
  }

 private:
  std::string token_;
  std::filesystem::path file_;
  std::mutex mutex_;
  std::string fileToken_;
  bool loaded_ = false;
  timespec mtime_{};
  off_t size_ = 0;
  ino_t inode_ = 0;
};

struct RawResponse {
  int code = 0;
  std::string reason;
  std::string body;
  std::string retryAfter;
};

std::string contentTypeOf(PatchType type) {
  switch (type) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::kApply:
      return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

void addCertificates(SSL_CTX* ctx, const std::string& pem) {
  // A fresh store: with a CA configured, only that CA is trusted (as kubectl does).
  X509_STORE* store = X509_STORE_new();
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);
    X509_free(cert);
  }
  ERR_clear_error();
  BIO_free(bio);
  SSL_CTX_set_cert_store(ctx, store);
}

}  // namespace

bool configureHttpThreads(size_t threads) { return initThreadPool(threads); }

class Client::Impl {
 public:
  Impl(Config config, ClientOptions options)
      : config_(std::move(config)),
        options_(std::move(options)),
        token_(config_.bearerToken, config_.tokenFile) {
    initThreadPool(kDefaultHttpThreads);
    // cpprestsdk's own (inactivity) timer backs up the request deadline, which send() enforces
    // with its precise message; it must not fire first.
    http_ = makeHttpClient(options_.requestTimeout + std::chrono::seconds(1));
  }

  const Config& config() const { return config_; }

  // Sends one request and waits for the whole answer, within the request deadline.
  static constexpr int kStaleConnectionRetries = 4;

  static bool brokenPooledConnection(const std::string& verb, std::string_view what) {
    if (what.find("Failed to write request") != std::string_view::npos) return true;
    return verb == "GET" && (what.find("Failed to read HTTP status line") != std::string_view::npos ||
                             what.find("End of file") != std::string_view::npos);
  }

  RawResponse send(const std::string& verb, const std::string& pathAndQuery,
                   const std::string* body, const std::string& contentType,
                   const char* accept = kAcceptJson, int staleRetries = 0) {
    http::http_request request{http::method(verb)};
    prepare(request, pathAndQuery, accept);
    if (body != nullptr) request.set_body(*body, contentType);

    pplx::cancellation_token_source cts;
    auto done = std::make_shared<std::promise<RawResponse>>();
    auto future = done->get_future();
    http_->request(request, cts.get_token())
        .then([done](const pplx::task<http::http_response>& task) {
          try {
            http::http_response response = task.get();
            RawResponse raw;
            raw.code = response.status_code();
            raw.reason = response.reason_phrase();
            if (auto it = response.headers().find("Retry-After"); it != response.headers().end()) {
              raw.retryAfter = it->second;
            }
            // Straight into a string: one copy of the body, however large a list is.
            auto sink = std::make_shared<concurrency::streams::container_buffer<std::string>>();
            response.body().read_to_end(*sink).then(
                [done, sink, raw = std::move(raw)](const pplx::task<size_t>& read) mutable {
                  try {
                    read.get();
                    raw.body = std::move(sink->collection());
                    done->set_value(std::move(raw));
                  } catch (...) {
                    done->set_exception(std::current_exception());
                  }
                });
          } catch (...) {
            done->set_exception(std::current_exception());
          }
        });
    if (future.wait_for(options_.requestTimeout) == std::future_status::timeout) {
      cts.cancel();
      throw TimeoutError(verb + " " + url(pathAndQuery) + ": no complete answer within " +
                         std::to_string(options_.requestTimeout.count()) + " ms (" +
                         config_.source + ")");
    }
    try {
      return future.get();
    } catch (const http::http_exception& e) {
      // A keep-alive connection the server closed (an API server restarted, or its idle
      // timeout) fails the next request sent on it. Like Go's net/http (client-go), send it
      // again on another connection when nothing can have reached the server (the write
      // failed), or when it is a GET; a few times, as the pool may hold several such.
      if (staleRetries < kStaleConnectionRetries && brokenPooledConnection(verb, e.what())) {
        return send(verb, pathAndQuery, body, contentType, accept, staleRetries + 1);
      }
      throwTransportError(verb, pathAndQuery, e);
    } catch (const pplx::task_canceled&) {
      throw TransportError(verb + " " + url(pathAndQuery) + ": request cancelled");
    }
  }

  // A request with the retry policy; returns the body of a 2xx answer, throws otherwise.
  std::string call(const std::string& verb, const std::string& pathAndQuery,
                   const std::string* body = nullptr,
                   const std::string& contentType = "application/json",
                   const char* accept = kAcceptJson) {
    int attempt = 0;
    bool reauthenticated = false;
    while (true) {
      RawResponse raw = send(verb, pathAndQuery, body, contentType, accept);
      if (raw.code >= 200 && raw.code < 300) return std::move(raw.body);
      ApiErrorInfo info =
          decodeApiError(verb, url(pathAndQuery), raw.code, raw.reason, raw.body, raw.retryAfter);
      if (info.kind == ErrorKind::kUnauthorized && token_.fromFile() && !reauthenticated) {
        reauthenticated = true;
        token_.invalidate();
        continue;
      }
      bool retryable =
          info.kind == ErrorKind::kTooManyRequests || info.kind == ErrorKind::kServerError;
      if (retryable && attempt < options_.maxRetries && waitToRetry(retryDelay(info, attempt))) {
        ++attempt;
        continue;
      }
      throwApiError(std::move(info));
    }
  }

  nlohmann::json callJson(const std::string& verb, const std::string& pathAndQuery,
                          const nlohmann::json* body = nullptr,
                          const std::string& contentType = "application/json",
                          const char* accept = kAcceptJson) {
    std::string text;
    if (body != nullptr) text = body->dump();
    std::string answer =
        call(verb, pathAndQuery, body != nullptr ? &text : nullptr, contentType, accept);
    if (answer.empty()) return nlohmann::json::object();
    nlohmann::json parsed = nlohmann::json::parse(answer, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded()) {
      throw TransportError(verb + " " + url(pathAndQuery) +
                           ": the answer is not JSON (starts with \"" + answer.substr(0, 60) +
                           "\")");
    }
    return parsed;
  }

  // Sleeps for `delay` unless stopRetries() comes first; returns whether to retry.
  bool waitToRetry(std::chrono::milliseconds delay) {
    std::unique_lock lock(retryMutex_);
    return !retryCv_.wait_for(lock, delay, [this] { return retriesStopped_; });
  }

  void stopRetries() {
    std::lock_guard lock(retryMutex_);
    retriesStopped_ = true;
    retryCv_.notify_all();
  }

  std::chrono::milliseconds retryDelay(const ApiErrorInfo& info, int attempt) const {
    if (info.retryAfter) {
      auto capped = std::min<std::chrono::seconds>(*info.retryAfter, options_.maxRetryAfter);
      return std::chrono::duration_cast<std::chrono::milliseconds>(capped);
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(
        runtime::BackoffPolicy{options_.retryBaseDelay, options_.retryMaxDelay}.delay(attempt));
  }

  std::string watch(const ResourceType& type, std::string_view ns, const WatchOptions& options,
                    const std::function<void(const WatchEvent&)>& onEvent,
                    const std::stop_token& stop) {
    const std::string path = resourcePath(type, ns, "");
    std::string resourceVersion = options.resourceVersion;
    int failures = 0;
    bool reauthenticated = false;
    runtime::Backoff backoff({options.initialBackoff, options.maxBackoff});
    while (!stop.stop_requested()) {
      std::exception_ptr failure;
      std::string why;
      std::optional<std::chrono::seconds> retryAfter;
      auto started = std::chrono::steady_clock::now();
      size_t events = 0;
      try {
        watchOnce(path, options, resourceVersion, onEvent, stop, events);
        if (stop.stop_requested()) break;
        if (events > 0 || std::chrono::steady_clock::now() - started > std::chrono::seconds(1)) {
          reauthenticated = false;
          failures = 0;
          backoff.reset();
          if (options.onReconnect) options.onReconnect("watch stream ended; resuming");
          continue;
        }
        why = "watch stream ended at once without events";
      } catch (const GoneError&) {
        throw;
      } catch (const ApiError& e) {
        if (e.kind() == ErrorKind::kUnauthorized && token_.fromFile() && !reauthenticated) {
          // The token may have rotated under us: read it again and reconnect once.
          reauthenticated = true;
          token_.invalidate();
          continue;
        }
        if (e.kind() != ErrorKind::kTooManyRequests && e.kind() != ErrorKind::kServerError) throw;
        failure = std::current_exception();
        why = e.what();
        retryAfter = e.info().retryAfter;
      } catch (const TransportError& e) {
        if (stop.stop_requested()) break;
        failure = std::current_exception();
        why = e.what();
      }
      if (events > 0) {
        reauthenticated = false;
        failures = 0;
        backoff.reset();
      }
      ++failures;
      if (options.maxConsecutiveFailures && failures > *options.maxConsecutiveFailures) {
        if (failure) std::rethrow_exception(failure);
        throw TransportError("WATCH " + url(path) + ": " + why);
      }
      auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(backoff.next());
      if (retryAfter) {
        delay = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::min<std::chrono::seconds>(*retryAfter, options_.maxRetryAfter));
      }
      if (options.onReconnect) options.onReconnect(why);
      if (!runtime::sleepUnlessStopped(stop, delay)) break;
    }
    return resourceVersion;
  }

 private:
  std::unique_ptr<http_client::http_client> makeHttpClient(std::chrono::milliseconds timeout) {
    http_client::http_client_config cfg;
    cfg.set_timeout(timeout);
    cfg.set_validate_certificates(!config_.insecureSkipTlsVerify);
    // cpprestsdk writes a request's head and body separately; with Nagle on, the body waits
    // for the server's delayed ACK (about 40 ms a request). A connection's socket is open
    // from its second request on; the first one goes out before this can apply.
    const bool tls = config_.server.rfind("https://", 0) == 0;
    cfg.set_nativehandle_options([tls](http_client::native_handle handle) {
      using Tcp = boost::asio::ip::tcp;
      Tcp::socket& socket =
          tls ? static_cast<boost::asio::ssl::stream<Tcp::socket&>*>(handle)->next_layer()
              : *static_cast<Tcp::socket*>(handle);
      if (!socket.is_open()) return;
      boost::system::error_code ignored;
      socket.set_option(Tcp::no_delay(true), ignored);
    });
    const std::string caPem = config_.caPem;
    const std::string certPem = config_.clientCertPem;
    const std::string keyPem = config_.clientKeyPem;
    if (!caPem.empty() || !certPem.empty()) {
      cfg.set_ssl_context_callback([caPem, certPem, keyPem](boost::asio::ssl::context& ctx) {
        if (!caPem.empty()) addCertificates(ctx.native_handle(), caPem);
        if (!certPem.empty()) {
          ctx.use_certificate_chain(boost::asio::buffer(certPem.data(), certPem.size()));
          ctx.use_private_key(boost::asio::buffer(keyPem.data(), keyPem.size()),
                              boost::asio::ssl::context::pem);
        }
      });
    }
    try {
      return std::make_unique<http_client::http_client>(config_.server, cfg);
    } catch (const std::exception& e) {
      throw ConfigError(config_.source + ": server \"" + config_.server +
                        "\" is not a usable URL: " + e.what());
    }
  }

  void prepare(http::http_request& request, const std::string& pathAndQuery,
               const char* accept = kAcceptJson) {
    request.set_request_uri(pathAndQuery);
    request.headers().add("Accept", accept);
    request.headers().add("User-Agent", options_.userAgent);
    std::string token = token_.current();
    if (!token.empty()) request.headers().add("Authorization", "Bearer " + token);
  }

  std::string url(const std::string& pathAndQuery) const { return config_.server + pathAndQuery; }

  // Throws the TransportError (TimeoutError for a timeout) for a cpprestsdk failure.
  [[noreturn]] void throwTransportError(const std::string& verb, const std::string& pathAndQuery,
                                        const http::http_exception& e) const {
    std::string what = e.what();
    std::string prefix = verb + " " + url(pathAndQuery) + ": ";
    std::string suffix = " (" + config_.source + ")";
    if (e.error_code() == std::errc::timed_out) {
      throw TimeoutError(prefix + "timed out, no progress: " + what + suffix);
    }
    if (what.find("handshake") != std::string::npos) {
      throw TransportError(prefix + "TLS handshake failed (" + what +
                           "): the server's certificate is not trusted by the configured "
                           "certificate authority or does not name the host, or the server "
                           "refused the client certificate" +
                           suffix);
    }
    if (what.find("connect") != std::string::npos) {
      throw TransportError(prefix + "cannot connect to the API server: " + what + suffix);
    }
    throw TransportError(prefix + what + suffix);
  }

  // One watch connection: returns when the stream ends cleanly; throws otherwise.
  void watchOnce(const std::string& path, const WatchOptions& options, std::string& resourceVersion,
                 const std::function<void(const WatchEvent&)>& onEvent, const std::stop_token& stop,
                 size_t& events) {
    std::vector<std::pair<std::string, std::string>> query{{"watch", "1"}};
    if (!resourceVersion.empty()) query.emplace_back("resourceVersion", resourceVersion);
    if (options.allowBookmarks) query.emplace_back("allowWatchBookmarks", "true");
    if (options.timeoutSeconds > 0) {
      query.emplace_back("timeoutSeconds", std::to_string(options.timeoutSeconds));
    }
    if (!options.labelSelector.empty()) query.emplace_back("labelSelector", options.labelSelector);
    if (!options.fieldSelector.empty()) query.emplace_back("fieldSelector", options.fieldSelector);
    const std::string pathAndQuery = path + queryString(query);

    http_client::http_client* client = nullptr;
    {
      // cpprestsdk's timeout is an inactivity timer: it must outlast a quiet watch, so
      // watches get clients of their own, one per idle timeout.
      int idle = (options.timeoutSeconds > 0 ? options.timeoutSeconds : 1800) + 60;
      std::lock_guard lock(watchClientMutex_);
      auto& slot = watchClients_[idle];
      if (!slot) slot = makeHttpClient(std::chrono::seconds(idle));
      client = slot.get();
    }
    http::http_request request(http::methods::GET);
    prepare(request, pathAndQuery, options.metadataOnly ? kAcceptMetadata : kAcceptJson);
    pplx::cancellation_token_source cts;
    std::stop_callback cancelOnStop(stop, [&cts] { cts.cancel(); });
    // However this connection ends (a callback that throws, an error event), close it, so
    // cpprestsdk does not go on reading a stream nobody consumes.
    struct CancelOnExit {
      pplx::cancellation_token_source& cts;
      ~CancelOnExit() { cts.cancel(); }
    } cancelOnExit{cts};

    auto pending = client->request(request, cts.get_token());
    // Wait for the answer's head within the request deadline.
    auto head = std::make_shared<std::promise<http::http_response>>();
    auto headFuture = head->get_future();
    pending.then([head](const pplx::task<http::http_response>& t) {
      try {
        head->set_value(t.get());
      } catch (...) {
        head->set_exception(std::current_exception());
      }
    });
    if (headFuture.wait_for(options_.requestTimeout) == std::future_status::timeout) {
      cts.cancel();
      throw TimeoutError("WATCH " + url(pathAndQuery) + ": no answer within " +
                         std::to_string(options_.requestTimeout.count()) + " ms");
    }
    http::http_response response;
    try {
      response = headFuture.get();
    } catch (const http::http_exception& e) {
      throwTransportError("WATCH", pathAndQuery, e);
    } catch (const pplx::task_canceled&) {
      throw TransportError("WATCH " + url(pathAndQuery) + ": cancelled");
    }
    if (response.status_code() != 200) {
      std::string body;
      try {
        auto bytes = response.extract_vector().get();
        body.assign(bytes.begin(), bytes.end());
      } catch (const std::exception&) {
      }
      std::string retryAfter;
      if (auto it = response.headers().find("Retry-After"); it != response.headers().end()) {
        retryAfter = it->second;
      }
      throwApiError(decodeApiError("WATCH", url(pathAndQuery), response.status_code(),
                                   response.reason_phrase(), body, retryAfter));
    }

    auto stream = response.body().streambuf();
    std::vector<uint8_t> buffer(size_t{64} * 1024);
    WatchLineSplitter lines;
    while (true) {
      size_t n = 0;
      try {
        n = stream.getn(buffer.data(), 1).get();
        if (n > 0) {
          size_t more = std::min(stream.in_avail(), buffer.size() - 1);
          if (more > 0) n += stream.getn(buffer.data() + 1, more).get();
        }
      } catch (const http::http_exception& e) {
        throwTransportError("WATCH", pathAndQuery, e);
      } catch (const std::exception& e) {
        throw TransportError("WATCH " + url(pathAndQuery) + ": stream broke: " + e.what());
      }
      if (n == 0) {
        if (lines.pending() > 0) {
          throw TransportError("WATCH " + url(pathAndQuery) + ": stream ended mid-event");
        }
        return;
      }
      lines.feed(std::string_view(reinterpret_cast<const char*>(buffer.data()), n));
      while (auto line = lines.next()) {
        std::string error;
        auto event = decodeWatchEvent(*line, error);
        if (!event) throw TransportError("WATCH " + url(pathAndQuery) + ": " + error);
        if (event->type == WatchEventType::kError) {
          const auto& status = event->object;
          int code = status.value("code", 500);
          throwApiError(decodeApiError("WATCH", url(pathAndQuery), code, "", status.dump()));
        }
        if (std::string rv = event->resourceVersion(); !rv.empty()) resourceVersion = rv;
        ++events;
        onEvent(*event);
      }
    }
  }

  Config config_;
  ClientOptions options_;
  TokenSource token_;
  std::unique_ptr<http_client::http_client> http_;
  std::mutex watchClientMutex_;
  std::map<int, std::unique_ptr<http_client::http_client>> watchClients_;
  std::mutex retryMutex_;
  std::condition_variable retryCv_;
  bool retriesStopped_ = false;
};

Client::Client(Config config, ClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(options))) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

const Config& Client::config() const { return impl_->config(); }

nlohmann::json Client::get(const ResourceType& type, std::string_view ns, std::string_view name) {
  return impl_->callJson("GET", resourcePath(type, ns, name));
}

nlohmann::json Client::getMetadata(const ResourceType& type, std::string_view ns,
                                   std::string_view name) {
  return impl_->callJson("GET", resourcePath(type, ns, name), nullptr, "application/json",
                         kAcceptMetadata);
}

namespace {
std::vector<std::pair<std::string, std::string>> listQuery(const ListOptions& options) {
  std::vector<std::pair<std::string, std::string>> query;
  if (!options.labelSelector.empty()) query.emplace_back("labelSelector", options.labelSelector);
  if (!options.fieldSelector.empty()) query.emplace_back("fieldSelector", options.fieldSelector);
  if (options.limit > 0) query.emplace_back("limit", std::to_string(options.limit));
  if (!options.continueToken.empty()) query.emplace_back("continue", options.continueToken);
  if (!options.resourceVersion.empty()) {
    query.emplace_back("resourceVersion", options.resourceVersion);
  }
  return query;
}

}  // namespace

ObjectList Client::list(const ResourceType& type, std::string_view ns, const ListOptions& options) {
  nlohmann::json answer =
      impl_->callJson("GET", resourcePath(type, ns, "") + queryString(listQuery(options)), nullptr,
                      "application/json", options.metadataOnly ? kAcceptMetadataList : kAcceptJson);
  ObjectList out;
  out.resourceVersion = encoding::metadataString(answer, "resourceVersion");
  out.continueToken = encoding::metadataString(answer, "continue");
  if (auto items = answer.find("items"); items != answer.end() && items->is_array()) {
    out.items.reserve(items->size());
    for (auto& item : *items) out.items.push_back(std::move(item));
  }
  return out;
}

std::string Client::listEach(const ResourceType& type, std::string_view ns, ListOptions options,
                             const std::function<void(nlohmann::json&& item)>& onItem) {
  if (options.limit <= 0) options.limit = kDefaultPageSize;
  std::string resourceVersion;
  bool first = true;
  while (true) {
    ObjectList page = list(type, ns, options);
    if (first) resourceVersion = page.resourceVersion;
    first = false;
    for (auto& item : page.items) onItem(std::move(item));
    if (page.continueToken.empty()) break;
    options.continueToken = page.continueToken;
    // With continue, the server serves the original snapshot; a version would be refused.
    options.resourceVersion.clear();
  }
  return resourceVersion;
}

ObjectList Client::listAll(const ResourceType& type, std::string_view ns, ListOptions options) {
  ObjectList out;
  out.resourceVersion = listEach(type, ns, std::move(options), [&out](nlohmann::json&& item) {
    out.items.push_back(std::move(item));
  });
  return out;
}

nlohmann::json Client::create(const ResourceType& type, std::string_view ns,
                              const nlohmann::json& object) {
  return impl_->callJson("POST", resourcePath(type, ns, ""), &object);
}

nlohmann::json Client::update(const ResourceType& type, std::string_view ns, std::string_view name,
                              const nlohmann::json& object) {
  return impl_->callJson("PUT", resourcePath(type, ns, name), &object);
}

nlohmann::json Client::updateStatus(const ResourceType& type, std::string_view ns,
                                    std::string_view name, const nlohmann::json& object) {
  return impl_->callJson("PUT", resourcePath(type, ns, name, "status"), &object);
}

nlohmann::json Client::patch(const ResourceType& type, std::string_view ns, std::string_view name,
                             PatchType patchType, const nlohmann::json& patch,
                             const PatchOptions& options) {
  if (patchType == PatchType::kJson && !patch.is_array()) {
    throw std::invalid_argument("a JSON patch (RFC 6902) is an array of operations");
  }
  if (patchType == PatchType::kApply && options.fieldManager.empty()) {
    throw std::invalid_argument("server-side apply needs a fieldManager");
  }
  std::vector<std::pair<std::string, std::string>> query;
  if (!options.fieldManager.empty()) query.emplace_back("fieldManager", options.fieldManager);
  if (options.force) query.emplace_back("force", "true");
  return impl_->callJson("PATCH",
                         resourcePath(type, ns, name, options.subresource) + queryString(query),
                         &patch, contentTypeOf(patchType));
}

nlohmann::json Client::patchStatus(const ResourceType& type, std::string_view ns,
                                   std::string_view name, PatchType patchType,
                                   const nlohmann::json& patch) {
  PatchOptions options;
  options.subresource = "status";
  return this->patch(type, ns, name, patchType, patch, options);
}

nlohmann::json Client::remove(const ResourceType& type, std::string_view ns, std::string_view name,
                              const DeleteOptions& options) {
  nlohmann::json body = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}};
  if (!options.propagationPolicy.empty()) body["propagationPolicy"] = options.propagationPolicy;
  if (options.gracePeriodSeconds) body["gracePeriodSeconds"] = *options.gracePeriodSeconds;
  if (!options.preconditionUid.empty()) body["preconditions"]["uid"] = options.preconditionUid;
  if (!options.preconditionResourceVersion.empty()) {
    body["preconditions"]["resourceVersion"] = options.preconditionResourceVersion;
  }
  return impl_->callJson("DELETE", resourcePath(type, ns, name), &body);
}

nlohmann::json Client::request(const std::string& verb, const std::string& pathAndQuery,
                               const nlohmann::json* body) {
  return impl_->callJson(verb, pathAndQuery, body);
}

void Client::stopRetries() { impl_->stopRetries(); }

std::string Client::watch(const ResourceType& type, std::string_view ns,
                          const WatchOptions& options,
                          const std::function<void(const WatchEvent&)>& onEvent,
                          const std::stop_token& stop) {
  return impl_->watch(type, ns, options, onEvent, stop);
}

}  // namespace agentproxy::kube
