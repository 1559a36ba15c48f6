#include "runtime/redaction.h"

#include <mutex>
#include <utility>

#include "encoding/encoding.h"

namespace agentproxy::runtime {

namespace {

bool isSchemeChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '-' || c == '.';
}

// Where a URL's authority ends: RFC 3986 delimiters, plus whitespace and quotes, which end a
// URL embedded in prose or in a quoted value.
bool endsAuthority(char c) {
  return c == '/' || c == '?' || c == '#' || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
         c == '"' || c == '\'' || c == '<' || c == '>';
}

}  // namespace

std::string maskUrlPasswords(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t copied = 0;
  std::size_t search = 0;
  while (true) {
    const std::size_t separator = text.find("://", search);
    if (separator == std::string_view::npos) break;
    search = separator + 3;
    if (separator == 0 || !isSchemeChar(text[separator - 1])) continue;
    std::size_t authorityEnd = search;
    while (authorityEnd < text.size() && !endsAuthority(text[authorityEnd])) ++authorityEnd;
    const std::string_view authority = text.substr(search, authorityEnd - search);
    // The host follows the last '@'; a password may itself contain an unencoded '@'.
    const std::size_t at = authority.rfind('@');
    if (at == std::string_view::npos) continue;
    const std::size_t colon = authority.substr(0, at).find(':');
    if (colon == std::string_view::npos) continue;
    const std::size_t passwordStart = search + colon + 1;
    out.append(text.substr(copied, passwordStart - copied));
    out.append(kRedacted);
    copied = search + at;
    search = authorityEnd;
  }
  out.append(text.substr(copied));
  return out;
}

void Redactor::addSecret(std::string value) {
  if (value.empty()) return;
  std::unique_lock<std::shared_mutex> lock(mutex_);
  secrets_.insert(std::move(value));
}

std::string Redactor::redact(std::string_view text) const {
  std::string out(text);
  {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    for (const std::string& secret : secrets_) {
      for (std::size_t at = out.find(secret); at != std::string::npos;
           at = out.find(secret, at + kRedacted.size())) {
        out.replace(at, secret.size(), kRedacted);
      }
    }
  }
  return maskUrlPasswords(out);
}

}  // namespace agentproxy::runtime

namespace agentproxy::runtime {

nlohmann::json Redactor::redactJson(const nlohmann::json& value) const {
  if (value.is_string()) return redact(value.get_ref<const std::string&>());
  if (value.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : value) out.push_back(redactJson(item));
    return out;
  }
  if (value.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [key, item] : value.items()) out[redact(key)] = redactJson(item);
    return out;
  }
  return value;
}

void Redactor::addProxyCredentials(const std::string& user, const std::string& password) {
  if (password.empty()) return;
  addSecret(password);
  addSecret(encoding::percentEncode(password));
  addSecret(encoding::base64Encode(password));
  addSecret(encoding::base64Encode(encoding::percentEncode(password)));
  addSecret(encoding::base64Encode(user + ":" + password));
}

}  // namespace agentproxy::runtime
