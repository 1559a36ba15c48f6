// One admission decision, from the AdmissionReview's bytes to the HTTP answer: parse, select the
// policy, build the patch, answer. Pure apart from the namespace lookup the caller supplies.
//
// Guarantees: never throws. A body that is not an AdmissionReview v1 with a uid is HTTP 400
// with a JSON {"error": ...}; with a readable uid every problem is an AdmissionReview answer
// (allowed: false, code 400 for a malformed pod, 500 when the namespace cannot be read), so the
// API server applies the webhook's failurePolicy. A pod the policies do not select is allowed
// unchanged. Messages name what was wrong and never contain a secret (the patch only holds
// secretKeyRef references).
// Assumes the webhook is registered for Pod CREATE; other operations are allowed unchanged.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/no_proxy.h"
#include "policy/proxy_policy.h"
#include "injection/pod_injection.h"
#include "webhook/policy_selection.h"

namespace agentproxy::webhook {

// What a policy injects is injection/'s; the admission names it so.
using injection::Injection;
using injection::InjectionError;
using injection::injectionFor;
using injection::injectionForPolicy;
using injection::injectionHash;
using injection::kCaVolumeName;
using injection::kHashAnnotation;
using injection::kOutvotedAnnotation;
using injection::kPolicyAnnotation;
using injection::PreparedInjection;
using injection::prepareInjection;
using injection::writePodPatch;

// What the webhook knows of the policies: a snapshot shared by concurrent requests.
struct AdmissionPolicies {
  std::shared_ptr<const std::vector<policy::ProxyPolicy>> policies;  // the parseable ones
  std::map<std::string, std::string> caBundleHashes;  // policy name -> status.caBundleHash
  policy::ClusterNetwork cluster;
  std::string operatorNamespace;
  // Each policy's injection computed once (prepareAdmission()); admitPod() computes any that is
  // missing, such as a policy whose proxy URL cannot carry credentials (to report the error).
  std::map<std::string, std::shared_ptr<const PreparedInjection>, std::less<>> prepared;
};

// Fills `snapshot.prepared`, taking the entries of `previous` for policies whose uid,
// generation, CA bundle hash and cluster are unchanged, so that a policy change costs one
// policy's preparation, not all of them.
void prepareAdmission(AdmissionPolicies& snapshot, const AdmissionPolicies* previous = nullptr);

// The namespace's labels; nullopt when it does not exist. Throws when it cannot be read.
using NamespaceLookup = std::function<std::optional<PodNamespace>(const std::string& name)>;

struct AdmissionAnswer {
  int httpStatus = 200;
  std::string body;     // JSON
  std::string outcome;  // injected, unchanged, skipped, rejected, invalid: the metric label
  std::string detail;   // for the log: which pod, which policy or why not
};

AdmissionAnswer admitPod(std::string_view body, const AdmissionPolicies& policies,
                         const NamespaceLookup& lookupNamespace);

}  // namespace agentproxy::webhook
