// Watch events and the decoding of a watch stream (newline-delimited JSON).
//
// Guarantees: WatchLineSplitter hands back each complete line exactly once, whatever the
// chunking of the bytes fed to it; decodeWatchEvent() accepts exactly what the API server
// sends ({"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": {...}}) and reports
// anything else as malformed rather than guessing. Pure: no I/O.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agentproxy::kube {

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };

std::string_view watchEventTypeName(WatchEventType type);

struct WatchEvent {
  WatchEventType type = WatchEventType::kAdded;
  // The object (a metav1.Status for kError; only metadata.resourceVersion for kBookmark).
  nlohmann::json object;
  // object.metadata.resourceVersion ("" when absent).
  std::string resourceVersion() const;
};

// Splits a byte stream into lines ('\n'-terminated; a trailing '\r' is dropped).
class WatchLineSplitter {
 public:
  // Appends bytes; complete lines become available through next().
  void feed(std::string_view bytes);
  // The next complete, non-empty line, or nullopt.
  std::optional<std::string> next();
  // Bytes of an unterminated last line (what is left when the stream ends).
  size_t pending() const { return buffer_.size() - consumed_; }

 private:
  std::string buffer_;
  size_t consumed_ = 0;
};

// Decodes one line. Returns nullopt and sets `error` when the line is not a watch event.
std::optional<WatchEvent> decodeWatchEvent(std::string_view line, std::string& error);

}  // namespace agentproxy::kube
