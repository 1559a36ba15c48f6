// Durations as Kubernetes and Go write them: "10s", "500ms", "1m30s", "2h".
#pragma once

#include <chrono>
#include <string_view>

namespace agentproxy::probe {

// Throws InputError naming the text when it is not a positive Go-style duration.
std::chrono::milliseconds parseDuration(std::string_view text);

}  // namespace agentproxy::probe
