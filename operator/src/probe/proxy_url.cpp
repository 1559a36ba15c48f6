#include "probe/proxy_url.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "encoding/encoding.h"

namespace agentproxy::probe {
namespace {

std::string bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `what` names the part for the error message; the value itself is not echoed because it may
// be a password.
std::string percentDecode(std::string_view in, std::string_view what) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    int hi = i + 1 < in.size() ? hexValue(in[i + 1]) : -1;
    int lo = i + 2 < in.size() ? hexValue(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      throw InputError("proxy URL: the " + std::string(what) + " has a bad percent-escape");
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

uint16_t parsePort(std::string_view text, std::string_view context) {
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value == 0 ||
      value > 65535) {
    throw InputError(std::string(context) + ": bad port \"" + std::string(text) +
                     "\" (want 1-65535)");
  }
  return static_cast<uint16_t>(value);
}

bool validHostName(std::string_view host) {
  return !host.empty() && std::all_of(host.begin(), host.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '.' || c == '_';
  });
}

// Splits "host:port" / "[v6]:port" / "host" into host and the port text (empty when absent).
void splitHostPort(std::string_view in, std::string_view context, std::string& host,
                   std::string_view& port) {
  if (!in.empty() && in.front() == '[') {
    auto close = in.find(']');
    if (close == std::string_view::npos) {
      throw InputError(std::string(context) + ": unterminated IPv6 literal in \"" +
                       std::string(in) + "\"");
    }
    host = std::string(in.substr(1, close - 1));
    auto rest = in.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') {
      throw InputError(std::string(context) + ": unexpected text after \"]\" in \"" +
                       std::string(in) + "\"");
    }
    port = rest.empty() ? std::string_view() : rest.substr(1);
    if (!rest.empty() && port.empty()) {
      throw InputError(std::string(context) + ": empty port in \"" + std::string(in) + "\"");
    }
    if (!isIpLiteral(host) || host.find(':') == std::string::npos) {
      throw InputError(std::string(context) + ": \"" + host + "\" is not an IPv6 address");
    }
    return;
  }
  auto colon = in.rfind(':');
  if (colon == std::string_view::npos) {
    host = std::string(in);
    port = {};
  } else {
    host = std::string(in.substr(0, colon));
    port = in.substr(colon + 1);
    if (port.empty())
      throw InputError(std::string(context) + ": empty port in \"" + std::string(in) + "\"");
  }
  if (host.find(':') != std::string::npos) {
    throw InputError(std::string(context) + ": IPv6 addresses need brackets, as in [::1]:443");
  }
  if (!validHostName(host)) {
    throw InputError(std::string(context) + ": bad host \"" + host + "\"");
  }
}

}  // namespace

bool isIpLiteral(std::string_view host) {
  std::string h(host);
  unsigned char buf[16];
  return inet_pton(AF_INET, h.c_str(), buf) == 1 || inet_pton(AF_INET6, h.c_str(), buf) == 1;
}

std::string ProxyUrl::hostPort() const { return bracketed(host) + ":" + std::to_string(port); }

std::string ProxyUrl::redacted() const {
  return scheme + "://" + (hasCredentials() ? "***@" : "") + hostPort();
}

std::string ProxyUrl::withCredentials() const {
  std::string userinfo;
  if (hasCredentials())
    userinfo = encoding::percentEncode(username) + ":" + encoding::percentEncode(password) + "@";
  return scheme + "://" + userinfo + hostPort();
}

std::string TargetAddress::hostPort() const { return bracketed(host) + ":" + std::to_string(port); }

ProxyUrl parseProxyUrl(std::string_view url) {
  ProxyUrl out;
  auto sep = url.find("://");
  if (sep == std::string_view::npos) {
    throw InputError("proxy URL must start with http:// or https:// (got no scheme)");
  }
  std::string scheme(url.substr(0, sep));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(), ::tolower);
  if (scheme != "http" && scheme != "https") {
    throw InputError("proxy URL scheme \"" + scheme +
                     "\" is not supported: use http:// or https:// (SOCKS is not an HTTP proxy)");
  }
  out.scheme = scheme;
  auto rest = url.substr(sep + 3);
  // The authority ends at the first '/', '?' or '#'; only an empty path is meaningful here.
  auto end = rest.find_first_of("/?#");
  auto authority = rest.substr(0, end);
  if (end != std::string_view::npos) {
    auto tail = rest.substr(end);
    if (tail != "/") {
      throw InputError("proxy URL must not have a path, query or fragment (got \"" +
                       std::string(tail) + "\")");
    }
  }
  auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    auto userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = userinfo.find(':');
    out.username = percentDecode(userinfo.substr(0, colon), "user name");
    if (colon != std::string_view::npos) {
      out.password = percentDecode(userinfo.substr(colon + 1), "password");
    }
    if (out.username.empty()) throw InputError("proxy URL has credentials but no user name");
  }
  if (authority.empty()) throw InputError("proxy URL has no host");
  std::string_view port;
  splitHostPort(authority, "proxy URL", out.host, port);
  out.port = port.empty() ? (out.tls() ? 443 : 80) : parsePort(port, "proxy URL");
  return out;
}

TargetAddress parseTargetAddress(std::string_view address) {
  TargetAddress out;
  if (address.empty()) throw InputError("target: empty address (want host:port)");
  if (address.find("://") != std::string_view::npos) {
    throw InputError("target \"" + std::string(address) + "\" must be host:port, not a URL");
  }
  std::string_view port;
  splitHostPort(address, "target", out.host, port);
  if (port.empty()) {
    throw InputError("target \"" + std::string(address) + "\" has no port (want host:port)");
  }
  out.port = parsePort(port, "target \"" + std::string(address) + "\"");
  return out;
}

}  // namespace agentproxy::probe
