// The byte encodings HTTP and Kubernetes use: percent-encoding (URLs), base64
// (Proxy-Authorization, WebSocket keys, Secret data, AdmissionReview patches), JSON strings
// (AdmissionReview answers written without a tree) and SHA-256 in hex (fingerprints, injection
// hashes). Pure; OpenSSL stays in the .cpp file.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace agentproxy::encoding {

// RFC 4648 base64 with padding.
std::string base64Encode(std::string_view bytes);
// base64Encode(bytes) appended to `out`.
void appendBase64(std::string& out, std::string_view bytes);
// Throws std::invalid_argument when `text` is not padded RFC 4648 base64.
std::string base64Decode(std::string_view text);
// RFC 3986 percent-encoding of everything but the unreserved characters (ALPHA, DIGIT, "-",
// ".", "_", "~"), uppercase hex: safe in a URL path segment, a query value and userinfo.
std::string percentEncode(std::string_view bytes);
// Appends `text` as a JSON string: quoted, with '"', '\\' and control characters escaped
// (RFC 8259). Other bytes are copied, so `text` must be UTF-8 for the result to be JSON.
void appendJsonString(std::string& out, std::string_view text);

// Lowercase hex of the SHA-256 digest of `bytes`.
std::string sha256Hex(std::string_view bytes);
// Lowercase hex of HMAC-SHA256(key, bytes): a digest of secret bytes that nobody without the
// key can test guesses against (an unkeyed hash of a password can be).
std::string hmacSha256Hex(std::string_view key, std::string_view bytes);
// `n` bytes from the system's cryptographic random source.
std::string randomBytes(size_t n);

}  // namespace agentproxy::encoding
