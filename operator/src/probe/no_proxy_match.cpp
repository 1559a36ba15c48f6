#include "probe/no_proxy_match.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "probe/proxy_url.h"

namespace agentproxy::probe {

bool hasPort(const std::string& entry) {
  if (isIpLiteral(entry)) return false;
  auto colon = entry.rfind(':');
  if (colon == std::string::npos || colon + 1 >= entry.size()) return false;
  return std::all_of(entry.begin() + static_cast<long>(colon) + 1, entry.end(), ::isdigit);
}

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// host:port split of an entry ("a.test:8443"); port -1 when it has none.
std::pair<std::string, int> entryHostPort(const std::string& entry) {
  if (hasPort(entry)) {
    auto colon = entry.rfind(':');
    return {entry.substr(0, colon), std::stoi(entry.substr(colon + 1))};
  }
  return {entry, -1};
}

}  // namespace


bool isCidr(const std::string& entry) {
  auto slash = entry.find('/');
  if (slash == std::string::npos || slash + 1 >= entry.size()) return false;
  return isIpLiteral(entry.substr(0, slash)) &&
         std::all_of(entry.begin() + static_cast<long>(slash) + 1, entry.end(), ::isdigit);
}

bool cidrContains(const std::string& cidr, const std::string& ip) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return false;
  unsigned char net[16], addr[16];
  int family = cidr.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  if (inet_pton(family, cidr.substr(0, slash).c_str(), net) != 1 ||
      inet_pton(family, ip.c_str(), addr) != 1) {
    return false;
  }
  int bits = std::atoi(cidr.c_str() + slash + 1);
  int total = family == AF_INET ? 32 : 128;
  if (bits < 0 || bits > total) return false;
  for (int i = 0; i < bits; ++i) {
    int mask = 0x80 >> (i % 8);
    if ((net[i / 8] & mask) != (addr[i / 8] & mask)) return false;
  }
  return true;
}

bool bypassesProxy(const std::string& runtime, const std::vector<std::string>& entries,
                   const std::string& rawHost, int port) {
  const std::string host = lower(rawHost);
  const bool ipTarget = probe::isIpLiteral(rawHost);
  for (const auto& entry : entries) {
    if (entry.empty()) continue;
    if (runtime == "grpc-core") {
      // A plain, case-insensitive string suffix; '*', ports and CIDR ranges match nothing.
      if (entry == "*" || hasPort(entry) || isCidr(entry)) continue;
      if (endsWith(host, lower(entry))) return true;
    } else if (runtime == "go") {
      if (entry == "*") return true;
      if (isCidr(entry)) {
        if (ipTarget && cidrContains(entry, rawHost)) return true;
        continue;
      }
      auto [name, entryPort] = entryHostPort(lower(entry));
      if (entryPort != -1 && entryPort != port) continue;
      if (ipTarget) {
        if (name == host) return true;
        continue;
      }
      if (name.rfind("*.", 0) == 0) name.erase(0, 1);
      if (name.front() == '.') {
        if (endsWith(host, name)) return true;
      } else if (host == name || endsWith(host, "." + name)) {
        return true;
      }
    } else if (runtime == "jvm") {
      // http.nonProxyHosts: whole names, case-insensitive, '*' at either end.
      if (isCidr(entry)) continue;
      std::string pattern = lower(entry.front() == '.' ? "*" + entry : entry);
      if (pattern == "*") return true;
      if (pattern.front() == '*') {
        if (endsWith(host, pattern.substr(1))) return true;
      } else if (pattern.back() == '*') {
        if (host.rfind(pattern.substr(0, pattern.size() - 1), 0) == 0) return true;
      } else if (host == pattern) {
        return true;
      }
    } else if (runtime == "node") {
      // grpc-js: a case-sensitive string suffix; IPv4 CIDR ranges for IP targets; '*', '*.x'
      // and ports match nothing.
      if (isCidr(entry)) {
        if (ipTarget && entry.find(':') == std::string::npos && cidrContains(entry, rawHost))
          return true;
        continue;
      }
      if (entry == "*" || entry.rfind("*.", 0) == 0 || hasPort(entry)) continue;
      if (endsWith(rawHost, entry)) return true;
    } else if (runtime == "dotnet") {
      // ".x" subdomains, "x" exact; no '*', no CIDR (FIELD-NOTES' table; not run here).
      if (isCidr(entry) || entry == "*") continue;
      std::string e = lower(entry);
      if (e.front() == '.' ? endsWith(host, e) : host == e) return true;
    }
  }
  return false;
}

}  // namespace agentproxy::probe
