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
  // request.object, a JSON object of kind Pod, with only what the webhook reads: apiVersion,
  // kind; metadata name, generateName, namespace, labels, annotations; spec hostNetwork; of each
  // container and init container its name and env; of each volume and volume mount its name,
  // or all of it when the name starts with agentproxy- (the operator's own). The rest
  // (managedFields, images, resources, probes...) is never built, which is most of the cost.
  nlohmann::json pod;
};

// Throws AdmissionError.
AdmissionRequest parseAdmissionReview(std::string_view body);

// The AdmissionReview answers, as JSON text.
// allowed: true, and when `patch` (a JSON Patch array's text) is not empty and not "[]",
// patchType JSONPatch with the patch base64-encoded; `warnings` become the response's warnings
// (kubectl prints them).
std::string allowedResponse(std::string_view uid, std::string_view patch,
                            const std::vector<std::string>& warnings = {});
// allowed: false with status {code, message}: the API server rejects the request with the
// message (or admits it anyway when the webhook's failurePolicy is Ignore).
std::string errorResponse(std::string_view uid, int code, std::string_view message);

}  // namespace agentproxy::webhook
