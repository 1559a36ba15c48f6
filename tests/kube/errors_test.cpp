#include "kube/errors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace agentproxy::kube {
namespace {

using ::testing::HasSubstr;

std::string status(int code, const std::string& reason, const std::string& message,
                   const std::string& details = "") {
  std::string out = R"({"kind":"Status","apiVersion":"v1","status":"Failure","code":)" +
                    std::to_string(code) + R"(,"reason":")" + reason + R"(","message":")" +
                    message + "\"";
  if (!details.empty()) out += R"(,"details":)" + details;
  return out + "}";
}

template <typename E>
E thrown(ApiErrorInfo info) {
  try {
    throwApiError(std::move(info));
  } catch (const E& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong type: " << e.what();
  }
  throw std::logic_error("unreachable");
}

const std::string kUrl = "https://127.0.0.1:6443/api/v1/namespaces/default/pods/web";

TEST(ApiErrorTest, NotFoundSaysWhatWasTriedAndWhatCameBack) {
  auto info = decodeApiError("GET", kUrl, 404, "Not Found",
                             status(404, "NotFound", R"(pods \"web\" not found)"));
  auto e = thrown<NotFoundError>(info);
  EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  EXPECT_STREQ(e.what(), ("GET " + kUrl + ": 404 NotFound: pods \"web\" not found").c_str());
}

TEST(ApiErrorTest, ConflictAndAlreadyExistsShareTheirCodeButNotTheirType) {
  thrown<ConflictError>(decodeApiError(
      "PUT", kUrl, 409, "Conflict",
      status(409, "Conflict", "the object has been modified; please apply your changes")));
  thrown<AlreadyExistsError>(decodeApiError("POST", kUrl, 409, "Conflict",
                                            status(409, "AlreadyExists", "already exists")));
}

TEST(ApiErrorTest, GoneAndExpiredAreGone) {
  thrown<GoneError>(decodeApiError("WATCH", kUrl, 410, "", status(410, "Expired", "too old")));
  thrown<GoneError>(decodeApiError("GET", kUrl, 410, "Gone", ""));
}

TEST(ApiErrorTest, InvalidCarriesTheCauses) {
  auto e = thrown<InvalidError>(decodeApiError(
      "POST", kUrl, 422, "Unprocessable Entity",
      status(422, "Invalid", "ProxyPolicy p is invalid",
             R"({"causes":[{"reason":"FieldValueRequired","message":"Required value",)"
             R"("field":"spec.proxy.httpsProxy"},{"reason":"FieldValueInvalid",)"
             R"("message":"must be a URL","field":"spec.proxy.httpProxy"}]})")));
  ASSERT_EQ(e.causes().size(), 2u);
  EXPECT_EQ(e.causes()[0].type, "FieldValueRequired");
  EXPECT_EQ(e.causes()[0].field, "spec.proxy.httpsProxy");
  EXPECT_EQ(e.causes()[1].message, "must be a URL");
  EXPECT_THAT(e.what(), HasSubstr("(spec.proxy.httpsProxy: Required value; "
                                  "spec.proxy.httpProxy: must be a URL)"));
}

TEST(ApiErrorTest, TooManyRequestsReadsRetryAfterFromHeaderOrDetails) {
  auto fromHeader = thrown<TooManyRequestsError>(decodeApiError(
      "GET", kUrl, 429, "Too Many Requests", status(429, "TooManyRequests", "slow down"), "3"));
  EXPECT_EQ(fromHeader.info().retryAfter, std::chrono::seconds(3));
  auto fromDetails = thrown<TooManyRequestsError>(
      decodeApiError("GET", kUrl, 429, "",
                     status(429, "TooManyRequests", "slow down", R"({"retryAfterSeconds":7})")));
  EXPECT_EQ(fromDetails.info().retryAfter, std::chrono::seconds(7));
  auto none = thrown<TooManyRequestsError>(decodeApiError("GET", kUrl, 429, "", "", "soon"));
  EXPECT_FALSE(none.info().retryAfter.has_value());
}

TEST(ApiErrorTest, AuthErrors) {
  thrown<UnauthorizedError>(decodeApiError("GET", kUrl, 401, "Unauthorized",
                                           status(401, "Unauthorized", "Unauthorized")));
  auto e = thrown<ForbiddenError>(
      decodeApiError("GET", kUrl, 403, "Forbidden",
                     status(403, "Forbidden", "pods is forbidden: User \"x\" cannot list")));
  EXPECT_EQ(e.code(), 403);
  EXPECT_EQ(e.reason(), "Forbidden");
}

TEST(ApiErrorTest, ServerErrorWithANonStatusBodyQuotesItShortened) {
  std::string html = "<html>" + std::string(500, 'x') + "</html>";
  auto e = thrown<ServerError>(decodeApiError("GET", kUrl, 503, "Service Unavailable", html));
  EXPECT_EQ(e.reason(), "Service Unavailable");
  EXPECT_LT(e.serverMessage().size(), 220u);
  EXPECT_THAT(e.what(), HasSubstr("503 Service Unavailable: <html>xxx"));
}

TEST(ApiErrorTest, ClassifyByCodeAndReason) {
  EXPECT_EQ(classifyError(400, "BadRequest"), ErrorKind::kBadRequest);
  EXPECT_EQ(classifyError(500, "InternalError"), ErrorKind::kServerError);
  EXPECT_EQ(classifyError(504, "Timeout"), ErrorKind::kServerError);
  EXPECT_EQ(classifyError(405, "MethodNotAllowed"), ErrorKind::kOther);
  EXPECT_EQ(errorKindName(ErrorKind::kAlreadyExists), "AlreadyExists");
  thrown<ApiError>(decodeApiError("PATCH", kUrl, 415, "Unsupported Media Type", ""));
}

}  // namespace
}  // namespace agentproxy::kube
