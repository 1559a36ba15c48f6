// Watch streams as the API server (or whatever sits between) sends them: newline-delimited JSON
// in arbitrary chunks. Properties: the splitter hands back the same lines whatever the
// chunking; decodeWatchEvent() returns an event or an error, never both, never neither.
#include <string>
#include <vector>

#include "fuzz_target.h"
#include "kube/watch_event.h"

using namespace agentproxy::kube;
using agentproxy::fuzz::fuzzCheck;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = agentproxy::fuzz::asText(data, size);
  // The first byte chooses the chunk size, so the fuzzer explores the chunking too.
  size_t chunk = size > 0 ? static_cast<uint8_t>(bytes[0]) % 16 + 1 : 1;
  WatchLineSplitter whole, chunked;
  whole.feed(bytes);
  for (size_t i = 0; i < bytes.size(); i += chunk) chunked.feed(bytes.substr(i, chunk));
  std::vector<std::string> lines;
  while (auto line = whole.next()) {
    auto other = chunked.next();
    fuzzCheck(other && *other == *line, "the chunking changed a line");
    lines.push_back(*line);
  }
  fuzzCheck(!chunked.next(), "the chunking added a line");
  fuzzCheck(whole.pending() == chunked.pending(), "the chunking changed what is pending");
  for (const auto& line : lines) {
    std::string error;
    auto event = decodeWatchEvent(line, error);
    fuzzCheck(event.has_value() == error.empty(), "an event and an error, or neither");
    if (event) {
      (void)event->resourceVersion();
      (void)watchEventTypeName(event->type);
      (void)event->object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  }
  return 0;
}
