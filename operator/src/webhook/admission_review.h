// AdmissionReview v1 (admission.k8s.io/v1) for the Pod CREATE webhook: reading the request,
// writing the response. Pure.
//
// Guarantees: parseAdmissionReview() never crashes on bad input; it returns the request or
// throws AdmissionError with a one-line message saying what is wrong (not JSON, not an
// AdmissionReview v1, no request.uid, an object that is not a v1 Pod) and the uid when one was
// readable, so the caller can answer with errorResponse() or, without a uid, an HTTP 400. The
// responses are complete AdmissionReview objects that echo the uid.
// Assumes the webhook is registered for Pods only, so any other object is a configuration
// error that deserves a clear message rather than a silent allow.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace agentproxy::webhook {

class AdmissionError : public std::runtime_error {
 public:
  AdmissionError(std::string uid, const std::string& message)
      : std::runtime_error(message), uid_(std::move(uid)) {}
  // Empty when the request had no readable uid.
  const std::string& uid() const { return uid_; }

 private:
  std::string uid_;
};

struct AdmissionRequest {
  std::string uid;
  std::string operation;   // CREATE, UPDATE, ...
  std::string namespace_;  // request.namespace: a pod with generateName may have none yet
  bool dryRun = false;
  nlohmann::json pod;  // request.object, a JSON object of kind Pod
};

// Throws AdmissionError.
AdmissionRequest parseAdmissionReview(std::string_view body);

// allowed: true, and when `patch` is a non-empty array, patchType JSONPatch with the patch
// base64-encoded; `warnings` become the response's warnings (kubectl prints them).
nlohmann::json allowedResponse(const std::string& uid, const nlohmann::json& patch,
                               const std::vector<std::string>& warnings = {});

// allowed: false with status {code, message}: the API server rejects the request with the
// message (or admits it anyway when the webhook's failurePolicy is Ignore).
nlohmann::json errorResponse(const std::string& uid, int code, const std::string& message);

}  // namespace agentproxy::webhook
