#include "probe/safe_text.h"

#include <algorithm>
#include <cstdint>

namespace agentproxy::probe {
namespace {

constexpr char32_t kReplacement = 0xFFFD;

// The code point of a well-formed UTF-8 sequence at s[i] (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF) and its length; length 0 when the bytes are not one.
struct Decoded {
  char32_t cp = 0;
  size_t length = 0;
};

Decoded decodeUtf8(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t b0 = byte(i);
  if (b0 < 0x80) return {b0, 1};
  size_t length = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    length = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    length = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    length = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return {};
  }
  if (i + length > s.size()) return {};
  for (size_t k = 1; k < length; ++k) {
    uint8_t b = byte(i + k);
    if ((b & 0xC0) != 0x80) return {};
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return {};
  return {cp, length};
}

// Characters a reader cannot see or that change how the text around them is shown.
bool unprintable(char32_t cp) {
  return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) || cp == 0x2028 ||
         cp == 0x2029 || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
         cp == 0xFEFF;
}

void appendUtf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

}  // namespace

std::string safeText(std::string_view raw, size_t maxBytes) {
  std::string out;
  out.reserve(std::min(raw.size(), maxBytes) + 3);
  for (size_t i = 0; i < raw.size();) {
    Decoded d = decodeUtf8(raw, i);
    char32_t cp;
    if (d.length == 0) {
      // Not UTF-8: a Latin-1 byte (U+0080..U+00FF), which the check below may still replace.
      cp = static_cast<uint8_t>(raw[i]);
      i += 1;
    } else {
      cp = d.cp;
      i += d.length;
    }
    if (cp == '\t') {
      cp = ' ';
    } else if (unprintable(cp)) {
      cp = kReplacement;
    }
    std::string piece;
    appendUtf8(piece, cp);
    if (out.size() + piece.size() > maxBytes) {
      out += "\xE2\x80\xA6";  // …
      return out;
    }
    out += piece;
  }
  return out;
}

bool isSafeText(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    Decoded d = decodeUtf8(text, i);
    if (d.length == 0 || unprintable(d.cp)) return false;
    i += d.length;
  }
  return true;
}

}  // namespace agentproxy::probe
