// Text that comes from outside (a proxy's status line and headers, a certificate's names, a
// library's message) made fit for JSON, logs, Events and a policy's status.
//
// Guarantees: safeText() returns valid UTF-8 with no control characters (C0, DEL, C1), no line
// or paragraph separators and no bidirectional overrides, at most maxBytes bytes plus the "…"
// that marks a cut, whatever the input. Bytes that are not UTF-8 are read as Latin-1 (what old
// proxies send), so "Zugriff verweigert: \xfc" keeps its ü; tabs become spaces; anything else
// unprintable becomes U+FFFD. Pure.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace agentproxy::probe {

constexpr size_t kMaxForeignText = 512;

std::string safeText(std::string_view raw, size_t maxBytes = kMaxForeignText);

// Whether `text` is what safeText() returns: valid UTF-8 without the characters it replaces.
bool isSafeText(std::string_view text);

}  // namespace agentproxy::probe
