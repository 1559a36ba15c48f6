// The errors the Kubernetes client throws.
//
// Guarantees: everything this library throws on purpose derives from KubeError. An ApiError
// is an answer from the API server; its message names what was tried (verb and URL) and what
// came back (HTTP code, Status reason and message, and the field causes of an Invalid). A
// TransportError means no usable answer came back (connection refused, TLS failure, timeout,
// a broken stream). ConfigError is a broken kubeconfig or in-cluster environment. No message
// ever contains a bearer token, a client key or a request body.
// Assumptions: callers branch on the subclass (catch NotFoundError...) or on kind().
#pragma once

#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace agentproxy::kube {

class KubeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A kubeconfig or in-cluster configuration that cannot be used; the message names the file
// and the field.
class ConfigError : public KubeError {
 public:
  using KubeError::KubeError;
};

// No answer: cannot connect, TLS handshake failure, the connection broke, or the deadline
// passed.
class TransportError : public KubeError {
 public:
  using KubeError::KubeError;
};

// The request's deadline (ClientOptions::requestTimeout) passed without a complete answer.
class TimeoutError : public TransportError {
 public:
  using TransportError::TransportError;
};

enum class ErrorKind {
  kBadRequest,       // 400
  kUnauthorized,     // 401
  kForbidden,        // 403
  kNotFound,         // 404
  kConflict,         // 409, reason Conflict (stale resourceVersion)
  kAlreadyExists,    // 409, reason AlreadyExists
  kGone,             // 410 (history compacted, continue token expired): re-list
  kInvalid,          // 422, with causes
  kTooManyRequests,  // 429
  kServerError,      // 5xx
  kOther,            // anything else (405, 415, ...)
};

std::string_view errorKindName(ErrorKind kind);

// One entry of a Status' details.causes.
struct StatusCause {
  std::string type;     // e.g. FieldValueRequired
  std::string message;  // e.g. Required value
  std::string field;    // e.g. spec.proxy.httpsProxy
};

// What an error answer said, decoded from the HTTP code and a metav1.Status body (or
// whatever the body was, when it was not a Status).
struct ApiErrorInfo {
  std::string verb;           // GET, POST, ... (WATCH for watches)
  std::string url;            // without credentials
  int code = 0;               // HTTP status, or Status.code of a watch ERROR event
  std::string reason;         // Status.reason, or the HTTP reason phrase
  std::string serverMessage;  // Status.message, or the start of the body
  std::vector<StatusCause> causes;
  std::optional<std::chrono::seconds> retryAfter;  // Retry-After / details.retryAfterSeconds
  ErrorKind kind = ErrorKind::kOther;
};

class ApiError : public KubeError {
 public:
  explicit ApiError(ApiErrorInfo info);
  const ApiErrorInfo& info() const { return info_; }
  ErrorKind kind() const { return info_.kind; }
  int code() const { return info_.code; }
  const std::string& reason() const { return info_.reason; }
  const std::string& serverMessage() const { return info_.serverMessage; }
  const std::vector<StatusCause>& causes() const { return info_.causes; }

 private:
  ApiErrorInfo info_;
};

// One subclass per ErrorKind but kOther, so that callers can catch what they handle.
class BadRequestError : public ApiError {
 public:
  using ApiError::ApiError;
};
class UnauthorizedError : public ApiError {
 public:
  using ApiError::ApiError;
};
class ForbiddenError : public ApiError {
 public:
  using ApiError::ApiError;
};
class NotFoundError : public ApiError {
 public:
  using ApiError::ApiError;
};
class ConflictError : public ApiError {
 public:
  using ApiError::ApiError;
};
class AlreadyExistsError : public ApiError {
 public:
  using ApiError::ApiError;
};
class GoneError : public ApiError {
 public:
  using ApiError::ApiError;
};
class InvalidError : public ApiError {
 public:
  using ApiError::ApiError;
};
class TooManyRequestsError : public ApiError {
 public:
  using ApiError::ApiError;
};
class ServerError : public ApiError {
 public:
  using ApiError::ApiError;
};

// The kind of an error answer: the Status reason wins where it is more precise than the
// code (409 AlreadyExists vs Conflict, 410 Expired), the code decides otherwise.
ErrorKind classifyError(int code, std::string_view reason);

// Decodes an error answer. `body` is the response body (a metav1.Status from a real API
// server; anything else is tolerated and quoted, shortened); `retryAfterHeader` is the
// Retry-After header ("" when absent; seconds only, as the API server sends).
ApiErrorInfo decodeApiError(std::string verb, std::string url, int httpCode,
                            std::string_view httpReason, std::string_view body,
                            std::string_view retryAfterHeader = {});

// The exception for an ApiErrorInfo, of the subclass its kind names.
std::exception_ptr makeApiError(ApiErrorInfo info);
[[noreturn]] void throwApiError(ApiErrorInfo info);

}  // namespace agentproxy::kube
