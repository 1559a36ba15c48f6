#include "kube/watch_event.h"

#include <gtest/gtest.h>

#include <vector>

namespace agentproxy::kube {
namespace {

TEST(WatchLineSplitterTest, SameLinesWhateverTheChunking) {
  const std::string stream = "{\"a\":1}\n{\"b\":2}\r\n\n{\"c\":3}\n{\"partial\":";
  for (size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    WatchLineSplitter splitter;
    std::vector<std::string> lines;
    for (size_t i = 0; i < stream.size(); i += chunk) {
      splitter.feed(std::string_view(stream).substr(i, chunk));
      while (auto line = splitter.next()) lines.push_back(*line);
    }
    ASSERT_EQ(lines.size(), 3u) << "chunk " << chunk;
    EXPECT_EQ(lines[0], "{\"a\":1}");
    EXPECT_EQ(lines[1], "{\"b\":2}");
    EXPECT_EQ(lines[2], "{\"c\":3}");
    EXPECT_EQ(splitter.pending(), std::string("{\"partial\":").size());
  }
}

TEST(DecodeWatchEventTest, DecodesEveryType) {
  std::string error;
  auto added = decodeWatchEvent(
      R"({"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"a","resourceVersion":"12"}}})",
      error);
  ASSERT_TRUE(added) << error;
  EXPECT_EQ(added->type, WatchEventType::kAdded);
  EXPECT_EQ(added->resourceVersion(), "12");
  EXPECT_EQ(added->object["metadata"]["name"], "a");
  for (auto [name, type] : {std::pair{"MODIFIED", WatchEventType::kModified},
                            std::pair{"DELETED", WatchEventType::kDeleted},
                            std::pair{"BOOKMARK", WatchEventType::kBookmark},
                            std::pair{"ERROR", WatchEventType::kError}}) {
    auto event = decodeWatchEvent(
        std::string(R"({"type":")") + name + R"(","object":{"metadata":{}}})", error);
    ASSERT_TRUE(event) << name;
    EXPECT_EQ(event->type, type);
    EXPECT_EQ(watchEventTypeName(type), name);
    EXPECT_EQ(event->resourceVersion(), "");
  }
}

TEST(DecodeWatchEventTest, RejectsWhatIsNotAnEvent) {
  std::string error;
  EXPECT_FALSE(decodeWatchEvent("not json", error));
  EXPECT_EQ(error, "watch stream: a line is not a JSON object");
  EXPECT_FALSE(decodeWatchEvent(R"({"type":"ADDED"})", error));
  EXPECT_FALSE(decodeWatchEvent(R"({"type":"RENAMED","object":{}})", error));
  EXPECT_EQ(error, "watch stream: unknown event type \"RENAMED\"");
}

}  // namespace
}  // namespace agentproxy::kube
