// What injection needs from the cluster for one ProxyPolicy, planned from the caches: the CA
// bundle and credentials copies in each selected namespace, and the count of selected pods
// running with the current injection. Pure: the reconciler performs the plan.
//
// Guarantees: planInjection() is deterministic; copies are written only when missing or when
// their content hash differs, deleted only when they carry this policy's annotation and their
// namespace is no longer selected (or injection is off); a pod counts for the policy that the
// webhook would choose for it (webhook::selectPolicy), so a pod another policy wins is never
// counted twice. Excluded namespaces (webhook::isExcludedNamespace) get no copies.
// Assumes `copies` holds operator copies (the managed-by label), each with "kind" (ConfigMap or
// Secret) and its metadata; pods hold at least metadata and spec.hostNetwork.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "policy/proxy_policy.h"
#include "webhook/policy_selection.h"

namespace agentproxy::controller {

inline constexpr std::string_view kManagedByLabel = "app.kubernetes.io/managed-by";
inline constexpr std::string_view kManagedByValue = "agentproxy";
inline constexpr std::string_view kCopyOfAnnotation = "agentproxy.io/policy";
// On a copy: what it holds, to tell whether it must be written again without reading it back.
// A CA bundle copy carries its SHA-256 ("sha256:..."); a credentials copy an HMAC-SHA256 keyed
// by InjectionInputs::credentialsKey ("hmac-sha256:..."), never an unkeyed hash of a password.
inline constexpr std::string_view kContentHashAnnotation = "agentproxy.io/content-hash";
// On a workload's pod template: when and for which injection hash the operator restarted it.
inline constexpr std::string_view kRestartedAtAnnotation = "agentproxy.io/restartedAt";
inline constexpr std::string_view kRestartedForAnnotation = "agentproxy.io/restarted-for-hash";

struct ObjectRef {
  std::string kind;  // ConfigMap, Secret, ReplicaSet, Deployment, StatefulSet, DaemonSet...
  std::string namespace_;
  std::string name;
  bool operator<(const ObjectRef& o) const {
    return std::tie(kind, namespace_, name) < std::tie(o.kind, o.namespace_, o.name);
  }
  bool operator==(const ObjectRef&) const = default;
};

// Thrown by a copy's write when an object of that name exists that the operator does not
// manage (no managed-by label of ours): the operator never takes it over.
class CopyConflict : public std::runtime_error {
 public:
  explicit CopyConflict(const ObjectRef& ref)
      : std::runtime_error(ref.kind + " " + ref.namespace_ + "/" + ref.name), ref_(ref) {}
  const ObjectRef& ref() const { return ref_; }

 private:
  ObjectRef ref_;
};

// A copy the operator keeps in a namespace; `data` holds plain values (a Secret's are
// base64-encoded when written).
struct CopyObject {
  ObjectRef ref;
  std::map<std::string, std::string> data;
  std::map<std::string, std::string> binaryData;  // a ConfigMap's, raw (base64 when written)
  std::string contentHash;
};

// What the policy injects, as resolved by the reconciler.
struct InjectionDesire {
  const policy::ProxyPolicy* policy = nullptr;
  std::string hash;  // injection::injectionHash of its Injection
  // When pods get a CA bundle; shared, not copied: with the system CAs it is ~200 KB, and
  // every reconcile of every policy would otherwise copy it.
  std::shared_ptr<const std::string> caBundlePem;
  // The same bundle as a PKCS12 truststore (trust::pkcs12Truststore), for the JVM: the copy's
  // binaryData beside the PEM. Null when the bundle has no certificate.
  std::shared_ptr<const std::string> caTruststore;
  // Raw; the copy holds them percent-encoded (encoding::percentEncode), so that $(VAR)
  // expansion in a proxy URL keeps each one userinfo component.
  std::optional<std::string> proxyUser;
  std::optional<std::string> proxyPassword;
};

struct InjectionPlan {
  std::vector<std::string> namespaces;  // selected, sorted
  std::vector<CopyObject> writes;
  std::vector<ObjectRef> deletes;
  int selectedPods = 0;
  int injectedPods = 0;                 // selected and carrying the current hash
  int stalePods = 0;                    // selected, without the current hash
  int outvotedPods = 0;                 // matched by this policy, injected by another
  std::vector<std::string> outvotedBy;  // the policies that won them, sorted
  // The controllers of stale pods (their ownerReferences with controller: true), sorted.
  std::vector<ObjectRef> staleOwners;
};

using PolicySnapshot = std::shared_ptr<const std::vector<policy::ProxyPolicy>>;

// The cluster as the caches see it.
struct InjectionInputs {
  std::vector<webhook::PodNamespace> namespaces;
  std::function<std::vector<nlohmann::json>(const std::string& ns)> podsIn;
  // Every parseable policy: the competition for each pod. Asked only when a selected namespace
  // has pods.
  std::function<PolicySnapshot()> policies;
  std::vector<nlohmann::json> copies;
  std::string operatorNamespace;
  // The key of the credentials copies' HMAC: random, kept in the operator's memory only (a new
  // process rewrites each credentials copy once). Must not be empty when credentials are set.
  std::string credentialsKey;
};

InjectionPlan planInjection(const InjectionDesire& desire, const InjectionInputs& inputs);

}  // namespace agentproxy::controller
