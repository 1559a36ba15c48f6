#include "kube/errors.h"

#include <charconv>
#include <nlohmann/json.hpp>
#include <utility>

namespace agentproxy::kube {
namespace {

std::string describe(const ApiErrorInfo& info) {
  std::string out = info.verb + " " + info.url + ": " + std::to_string(info.code);
  if (!info.reason.empty()) out += " " + info.reason;
  if (!info.serverMessage.empty()) out += ": " + info.serverMessage;
  if (!info.causes.empty()) {
    out += " (";
    for (size_t i = 0; i < info.causes.size(); ++i) {
      const auto& c = info.causes[i];
      if (i > 0) out += "; ";
      out += c.field.empty() ? c.message : c.field + ": " + c.message;
    }
    out += ")";
  }
  return out;
}

std::string shorten(std::string_view text, size_t max) {
  std::string out(text.substr(0, max));
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ')) {
    out.pop_back();
  }
  if (text.size() > max) out += "...";
  return out;
}

std::optional<std::chrono::seconds> parseSeconds(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  long long value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value < 0) return std::nullopt;
  return std::chrono::seconds(value);
}

}  // namespace

std::string_view errorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kBadRequest:
      return "BadRequest";
    case ErrorKind::kUnauthorized:
      return "Unauthorized";
    case ErrorKind::kForbidden:
      return "Forbidden";
    case ErrorKind::kNotFound:
      return "NotFound";
    case ErrorKind::kConflict:
      return "Conflict";
    case ErrorKind::kAlreadyExists:
      return "AlreadyExists";
    case ErrorKind::kGone:
      return "Gone";
    case ErrorKind::kInvalid:
      return "Invalid";
    case ErrorKind::kTooManyRequests:
      return "TooManyRequests";
    case ErrorKind::kServerError:
      return "ServerError";
    case ErrorKind::kOther:
      return "Other";
  }
  return "Other";
}

ApiError::ApiError(ApiErrorInfo info) : KubeError(describe(info)), info_(std::move(info)) {}

ErrorKind classifyError(int code, std::string_view reason) {
  if (reason == "AlreadyExists") return ErrorKind::kAlreadyExists;
  if (reason == "Expired" || reason == "Gone") return ErrorKind::kGone;
  switch (code) {
    case 400:
      return ErrorKind::kBadRequest;
    case 401:
      return ErrorKind::kUnauthorized;
    case 403:
      return ErrorKind::kForbidden;
    case 404:
      return ErrorKind::kNotFound;
    case 409:
      return ErrorKind::kConflict;
    case 410:
      return ErrorKind::kGone;
    case 422:
      return ErrorKind::kInvalid;
    case 429:
      return ErrorKind::kTooManyRequests;
    default:
      break;
  }
  if (code >= 500 && code <= 599) return ErrorKind::kServerError;
  return ErrorKind::kOther;
}

ApiErrorInfo decodeApiError(std::string verb, std::string url, int httpCode,
                            std::string_view httpReason, std::string_view body,
                            std::string_view retryAfterHeader) {
  ApiErrorInfo info;
  info.verb = std::move(verb);
  info.url = std::move(url);
  info.code = httpCode;
  info.reason = std::string(httpReason);
  nlohmann::json status = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (status.is_object() && status.value("kind", "") == "Status") {
    if (auto r = status.find("reason"); r != status.end() && r->is_string() && !r->empty()) {
      info.reason = r->get<std::string>();
    }
    if (auto m = status.find("message"); m != status.end() && m->is_string()) {
      info.serverMessage = m->get<std::string>();
    }
    if (auto d = status.find("details"); d != status.end() && d->is_object()) {
      if (auto causes = d->find("causes"); causes != d->end() && causes->is_array()) {
        for (const auto& c : *causes) {
          if (!c.is_object()) continue;
          info.causes.push_back(
              {c.value("reason", ""), c.value("message", ""), c.value("field", "")});
        }
      }
      if (auto ra = d->find("retryAfterSeconds"); ra != d->end() && ra->is_number_integer()) {
        info.retryAfter = std::chrono::seconds(std::max<int64_t>(0, ra->get<int64_t>()));
      }
    }
  } else if (!body.empty()) {
    info.serverMessage = shorten(body, 200);
  }
  if (auto ra = parseSeconds(retryAfterHeader)) info.retryAfter = ra;
  info.kind = classifyError(info.code, info.reason);
  return info;
}

std::exception_ptr makeApiError(ApiErrorInfo info) {
  switch (info.kind) {
    case ErrorKind::kBadRequest:
      return std::make_exception_ptr(BadRequestError(std::move(info)));
    case ErrorKind::kUnauthorized:
      return std::make_exception_ptr(UnauthorizedError(std::move(info)));
    case ErrorKind::kForbidden:
      return std::make_exception_ptr(ForbiddenError(std::move(info)));
    case ErrorKind::kNotFound:
      return std::make_exception_ptr(NotFoundError(std::move(info)));
    case ErrorKind::kConflict:
      return std::make_exception_ptr(ConflictError(std::move(info)));
    case ErrorKind::kAlreadyExists:
      return std::make_exception_ptr(AlreadyExistsError(std::move(info)));
    case ErrorKind::kGone:
      return std::make_exception_ptr(GoneError(std::move(info)));
    case ErrorKind::kInvalid:
      return std::make_exception_ptr(InvalidError(std::move(info)));
    case ErrorKind::kTooManyRequests:
      return std::make_exception_ptr(TooManyRequestsError(std::move(info)));
    case ErrorKind::kServerError:
      return std::make_exception_ptr(ServerError(std::move(info)));
    case ErrorKind::kOther:
      break;
  }
  return std::make_exception_ptr(ApiError(std::move(info)));
}

void throwApiError(ApiErrorInfo info) { std::rethrow_exception(makeApiError(std::move(info))); }

}  // namespace agentproxy::kube
