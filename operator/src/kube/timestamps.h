// Kubernetes timestamps: metav1.Time ("2026-11-27T11:05:00Z", whole seconds) and
// metav1.MicroTime ("2026-11-27T11:05:00.123456Z"), always UTC. Pure.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace agentproxy::kube {

std::string formatTime(std::chrono::system_clock::time_point t);
std::string formatMicroTime(std::chrono::system_clock::time_point t);
// Parses either form (fractions of any length, "Z" or a "+00:00"/"-00:00" offset, or any
// other offset, applied); nullopt when it is not RFC 3339.
std::optional<std::chrono::system_clock::time_point> parseTime(const std::string& text);

}  // namespace agentproxy::kube
