#include "webhook/admission_review.h"

#include <cstdint>
#include <nlohmann/json.hpp>

#include "encoding/encoding.h"

namespace agentproxy::webhook {
namespace {

using nlohmann::json;

constexpr std::string_view kApiVersion = "admission.k8s.io/v1";

std::string stringAt(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

json review(json response) {
  return {{"apiVersion", kApiVersion}, {"kind", "AdmissionReview"}, {"response", response}};
}

}  // namespace

AdmissionRequest parseAdmissionReview(std::string_view body) {
  json document = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) {
    throw AdmissionError("", "the request body is not valid JSON");
  }
  if (!document.is_object() || stringAt(document, "kind") != "AdmissionReview") {
    throw AdmissionError("", "the request body is not an AdmissionReview");
  }
  if (std::string apiVersion = stringAt(document, "apiVersion"); apiVersion != kApiVersion) {
    throw AdmissionError("", "AdmissionReview apiVersion is '" + apiVersion + "', expected " +
                                 std::string(kApiVersion) +
                                 " (set admissionReviewVersions: [v1] in the webhook)");
  }
  auto request = document.find("request");
  if (request == document.end() || !request->is_object()) {
    throw AdmissionError("", "the AdmissionReview has no request");
  }
  AdmissionRequest result;
  result.uid = stringAt(*request, "uid");
  if (result.uid.empty()) throw AdmissionError("", "the AdmissionReview request has no uid");
  result.operation = stringAt(*request, "operation");
  result.namespace_ = stringAt(*request, "namespace");
  auto dryRun = request->find("dryRun");
  result.dryRun = dryRun != request->end() && dryRun->is_boolean() && dryRun->get<bool>();

  auto object = request->find("object");
  if (object == request->end() || !object->is_object()) {
    throw AdmissionError(result.uid, "the AdmissionReview request has no object");
  }
  std::string kind = stringAt(*object, "kind");
  std::string apiVersion = stringAt(*object, "apiVersion");
  if (kind != "Pod" || apiVersion != "v1") {
    throw AdmissionError(result.uid, "the object is " +
                                         (kind.empty() ? std::string("of no kind") : "a " + kind) +
                                         (apiVersion.empty() ? "" : " " + apiVersion) +
                                         ", not a v1 Pod: the webhook is registered for Pods only");
  }
  result.pod = std::move(*object);
  return result;
}

json allowedResponse(const std::string& uid, const json& patch,
                     const std::vector<std::string>& warnings) {
  json response = {{"uid", uid}, {"allowed", true}};
  if (patch.is_array() && !patch.empty()) {
    response["patchType"] = "JSONPatch";
    response["patch"] = encoding::base64Encode(patch.dump());
  }
  if (!warnings.empty()) response["warnings"] = warnings;
  return review(std::move(response));
}

json errorResponse(const std::string& uid, int code, const std::string& message) {
  return review(
      {{"uid", uid}, {"allowed", false}, {"status", {{"code", code}, {"message", message}}}});
}

}  // namespace agentproxy::webhook
