#include "probe/duration.h"

#include <cctype>
#include <string>

#include "probe/proxy_url.h"

namespace agentproxy::probe {

std::chrono::milliseconds parseDuration(std::string_view text) {
  auto bad = [&] {
    return InputError("bad duration \"" + std::string(text) +
                      "\" (want a number with a unit, such as 500ms, 10s, 1m30s)");
  };
  if (text.empty()) throw bad();
  double totalMs = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
      ++i;
    }
    if (i == start) throw bad();
    double value = 0;
    try {
      size_t used = 0;
      value = std::stod(std::string(text.substr(start, i - start)), &used);
      if (used != i - start) throw bad();
    } catch (const std::logic_error&) {
      throw bad();
    }
    size_t unitStart = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    auto unit = text.substr(unitStart, i - unitStart);
    if (unit == "ms") totalMs += value;
    else if (unit == "s") totalMs += value * 1000;
    else if (unit == "m") totalMs += value * 60'000;
    else if (unit == "h") totalMs += value * 3'600'000;
    else throw bad();
  }
  if (totalMs < 1 || totalMs > 24.0 * 3'600'000) throw bad();
  return std::chrono::milliseconds(static_cast<int64_t>(totalMs));
}

}  // namespace agentproxy::probe
