// Keeps secrets out of text that leaves the process (logs, events, status messages).
//
// Guarantees: redact() replaces every occurrence of every registered secret with "***"
// (longer secrets first, so a secret containing another is masked whole), then masks the
// password of any URL carrying userinfo (scheme://user:password@host becomes
// scheme://user:***@host) whether or not it was registered. Thread-safe.
// Assumptions: a secret is matched byte for byte; an encoded form of it (percent-encoded,
// base64) must be registered separately.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>

namespace agentproxy::runtime {

inline constexpr std::string_view kRedacted = "***";

// Masks the password of every scheme://user:password@ in `text`.
std::string maskUrlPasswords(std::string_view text);

class Redactor {
 public:
  // Empty values are ignored: they would match everywhere.
  void addSecret(std::string value);
  std::string redact(std::string_view text) const;
  // Every string (and object key) of `value` redacted.
  nlohmann::json redactJson(const nlohmann::json& value) const;
  // A proxy password as it leaves the process in any form: itself, percent-encoded (a proxy
  // URL's userinfo, the credentials copy), base64 (Secret data) and the base64 of
  // "user:password" (a Proxy-Authorization header).
  void addProxyCredentials(const std::string& user, const std::string& password);

 private:
  struct LongestFirst {
    bool operator()(const std::string& a, const std::string& b) const {
      return a.size() != b.size() ? a.size() > b.size() : a < b;
    }
  };

  mutable std::shared_mutex mutex_;
  std::set<std::string, LongestFirst> secrets_;
};

}  // namespace agentproxy::runtime
