#include "kube/watch_event.h"

#include "encoding/object_metadata.h"

namespace agentproxy::kube {

std::string_view watchEventTypeName(WatchEventType type) {
  switch (type) {
    case WatchEventType::kAdded:
      return "ADDED";
    case WatchEventType::kModified:
      return "MODIFIED";
    case WatchEventType::kDeleted:
      return "DELETED";
    case WatchEventType::kBookmark:
      return "BOOKMARK";
    case WatchEventType::kError:
      return "ERROR";
  }
  return "ERROR";
}

std::string WatchEvent::resourceVersion() const {
  return encoding::metadataString(object, "resourceVersion");
}

void WatchLineSplitter::feed(std::string_view bytes) {
  if (consumed_ > 0 && consumed_ >= buffer_.size() / 2) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  buffer_.append(bytes);
}

std::optional<std::string> WatchLineSplitter::next() {
  while (true) {
    size_t end = buffer_.find('\n', consumed_);
    if (end == std::string::npos) return std::nullopt;
    size_t start = consumed_;
    consumed_ = end + 1;
    size_t len = end - start;
    if (len > 0 && buffer_[start + len - 1] == '\r') --len;
    if (len == 0) continue;
    return buffer_.substr(start, len);
  }
}

std::optional<WatchEvent> decodeWatchEvent(std::string_view line, std::string& error) {
  nlohmann::json doc = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    error = "watch stream: a line is not a JSON object";
    return std::nullopt;
  }
  auto type = doc.find("type");
  auto object = doc.find("object");
  if (type == doc.end() || !type->is_string() || object == doc.end() || !object->is_object()) {
    error = "watch stream: an event lacks a string type or an object";
    return std::nullopt;
  }
  const std::string& name = type->get_ref<const std::string&>();
  WatchEvent event;
  if (name == "ADDED") {
    event.type = WatchEventType::kAdded;
  } else if (name == "MODIFIED") {
    event.type = WatchEventType::kModified;
  } else if (name == "DELETED") {
    event.type = WatchEventType::kDeleted;
  } else if (name == "BOOKMARK") {
    event.type = WatchEventType::kBookmark;
  } else if (name == "ERROR") {
    event.type = WatchEventType::kError;
  } else {
    error = "watch stream: unknown event type \"" + name + "\"";
    return std::nullopt;
  }
  event.object = std::move(*object);
  return event;
}

}  // namespace agentproxy::kube
