#include "probe/connect_response.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>

#include "probe/safe_text.h"

namespace agentproxy::probe {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Finds "product/version" in a header value such as "1.1 proxy.corp (squid/5.7)".
std::string productToken(std::string_view value, std::string_view product) {
  std::string lower(value);
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  auto pos = lower.find(std::string(product) + "/");
  if (pos == std::string::npos) {
    return iequals(trim(value), product) ? std::string(product) : std::string();
  }
  auto end = pos;
  while (end < value.size() && !std::isspace(static_cast<unsigned char>(value[end])) &&
         value[end] != ')' && value[end] != ',' && value[end] != ';') {
    ++end;
  }
  return std::string(value.substr(pos, end - pos));
}

}  // namespace

std::optional<std::string> HttpResponseHead::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return value;
  }
  return std::nullopt;
}

HttpResponseHead parseResponseHead(std::string_view raw) {
  HttpResponseHead head;
  auto lineEnd = raw.find('\n');
  auto statusLine = trim(raw.substr(0, lineEnd));
  if (statusLine.substr(0, 5) != "HTTP/") {
    throw std::invalid_argument("the proxy did not answer with HTTP (got \"" +
                                safeText(statusLine, 40) + "\")");
  }
  auto sp = statusLine.find(' ');
  auto code = sp == std::string_view::npos ? std::string_view() : statusLine.substr(sp + 1, 3);
  auto [end, ec] = std::from_chars(code.data(), code.data() + code.size(), head.status);
  if (code.size() != 3 || ec != std::errc() || end != code.data() + 3 || head.status < 100) {
    throw std::invalid_argument("the proxy sent a bad status line \"" + safeText(statusLine, 80) +
                                "\"");
  }
  // What the proxy wrote is shown to people and stored in status and Events: made safe here,
  // where it enters (a Latin-1 reason phrase once made every status write of a policy throw).
  head.reason = safeText(trim(statusLine.substr(std::min(statusLine.size(), sp + 4))), 128);
  while (lineEnd != std::string_view::npos) {
    auto start = lineEnd + 1;
    lineEnd = raw.find('\n', start);
    auto line = trim(raw.substr(start, lineEnd == std::string_view::npos ? raw.npos
                                                                            : lineEnd - start));
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      throw std::invalid_argument("the proxy sent a bad header line \"" + safeText(line, 80) +
                                  "\"");
    }
    head.headers.emplace_back(safeText(trim(line.substr(0, colon)), 128),
                              safeText(trim(line.substr(colon + 1))));
  }
  return head;
}

std::string fingerprint(const HttpResponseHead& head) {
  static constexpr std::string_view kProducts[] = {"squid", "tinyproxy", "mitmproxy", "nginx",
                                                   "envoy", "haproxy", "apache"};
  for (std::string_view name : {"Server", "Proxy-agent", "Via"}) {
    auto value = head.header(name);
    if (!value) continue;
    for (auto product : kProducts) {
      auto token = productToken(*value, product);
      if (!token.empty()) return token;
    }
  }
  if (head.header("X-Squid-Error")) return "squid";
  for (std::string_view name : {"Server", "Proxy-agent"}) {
    if (auto value = head.header(name); value && !value->empty()) return *value;
  }
  return {};
}

TunnelState tunnelStateFor(int status) {
  if (status >= 200 && status < 300) return TunnelState::Established;
  if (status == 407 || status == 401) return TunnelState::AuthRequired;
  if (status == 502 || status == 503 || status == 504) return TunnelState::TargetUnreachable;
  return TunnelState::Refused;
}

}  // namespace agentproxy::probe
