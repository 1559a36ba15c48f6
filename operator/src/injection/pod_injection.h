// What a ProxyPolicy injects (DESIGN.md "Injection"), as an RFC 6902 JSON Patch against the
// pod. Pure.
//
// What every container and init container gets, in this order at the front of its env (so the
// user's own variables can refer to ours with $(VAR)), for the runtimes Injection::runtimes
// names (empty: all; what one runtime reads, the others ignore):
//   - with credentials: AGENTPROXY_PROXY_USER and AGENTPROXY_PROXY_PASSWORD from
//     valueFrom.secretKeyRef (keys "username" and "password" of the Secret the caller names);
//   - HTTPS_PROXY, https_proxy, HTTP_PROXY, http_proxy, NO_PROXY, no_proxy; for gRPC C-core and
//     grpc-js (grpc-core, node) also GRPC_PROXY, grpc_proxy and no_grpc_proxy (= no_proxy);
//     for Node also NODE_USE_ENV_PROXY=1. Every proxy URL is scheme://host:port with the port
//     written out (grpc-js defaults to 80); grpc_proxy is the policy's http:// proxy (httpsProxy,
//     else httpProxy), since C-core and grpc-js ignore https:// ones. With credentials the URLs
//     read scheme://$(AGENTPROXY_PROXY_USER):$(AGENTPROXY_PROXY_PASSWORD)@host:port, which the
//     kubelet expands because the two variables come earlier in the list;
//   - with a CA bundle: SSL_CERT_FILE, GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, NODE_EXTRA_CA_CERTS,
//     REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE = kCaBundleFile, and a read-only mount of the volume
//     kCaVolumeName (key kCaBundleKey of the caller's ConfigMap, and for the JVM its
//     kTruststoreKey) at kCaMountPath;
//   - for the JVM: JAVA_TOOL_OPTIONS with -Dhttps.proxyHost/Port, -Dhttp.proxyHost/Port,
//     -Dhttp.nonProxyHosts (policy::javaNonProxyHosts of NO_PROXY) and, with a CA bundle,
//     -Djavax.net.ssl.trustStore=kTruststoreFile -Djavax.net.ssl.trustStoreType=PKCS12. A
//     container's own JAVA_TOOL_OPTIONS (a plain value) is kept, ours appended after a space
//     (never replacing it; once: a value that already ends with ours is left alone); one from
//     valueFrom is left alone. A container whose proxy variables are left alone (below) gets
//     the truststore options only.
// The pod gets the annotations agentproxy.io/policy and agentproxy.io/injection-hash.
//
// Guarantees:
//   - No secret value is ever written: credentials are only secretKeyRef references.
//   - Idempotent: podPatch() of the patched pod with the same Injection is an empty array.
//   - What the user set is left alone unless overrideExisting: a container that sets any of
//     the eight proxy variables (either case) keeps all of them as they are and gets none of
//     ours, so upper and lower case never disagree; a CA variable the container sets is kept.
//     With overrideExisting, the container's definitions of those names are dropped in favour
//     of ours. Other variables, including those with valueFrom, are never touched.
//   - Names starting with agentproxy- (volume, mount) and AGENTPROXY_ (env) are the operator's:
//     an existing one that differs from ours is replaced.
//   - The patch uses add for missing arrays and maps (env, volumeMounts, volumes, annotations)
//     and escapes annotation keys per RFC 6901. A container's env is written whole (add when
//     missing, replace when it changes): ours must precede the entries that may refer to them.
// Assumptions and limits:
//   - The Secret copy holds username and password percent-encoded: $(VAR) expansion pastes them
//     into the URL verbatim, so a raw password with a URL-reserved character (@ : / % #...)
//     would break the URL. The operator stores encoded copies; this code only references keys.
//   - Variables that come from envFrom are invisible here; an explicit env entry wins over them
//     in Kubernetes, so ours apply.
//   - kCaMountPath is reserved: a user mount at the same path under another name would make the
//     pod invalid; the API server then rejects it with a clear message.
//   - gRPC C-core ignores an https:// proxy (policy::runtimeWarnings says so); it is still
//     written, as the policy says.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "policy/no_proxy.h"
#include "policy/proxy_policy.h"

namespace agentproxy::injection {

inline constexpr std::string_view kPolicyAnnotation = "agentproxy.io/policy";
inline constexpr std::string_view kHashAnnotation = "agentproxy.io/injection-hash";
inline constexpr std::string_view kCaVolumeName = "agentproxy-ca";
inline constexpr std::string_view kCaMountPath = "/etc/agentproxy/ca";
inline constexpr std::string_view kCaBundleKey = "ca-bundle.crt";
inline constexpr std::string_view kCaBundleFile = "/etc/agentproxy/ca/ca-bundle.crt";
// The PKCS12 truststore of the same bundle (trust::pkcs12Truststore), in the CA ConfigMap's
// binaryData.
inline constexpr std::string_view kTruststoreKey = "ca-bundle.p12";
inline constexpr std::string_view kTruststoreFile = "/etc/agentproxy/ca/ca-bundle.p12";
inline constexpr std::string_view kJavaToolOptionsVar = "JAVA_TOOL_OPTIONS";
inline constexpr std::string_view kProxyUserVar = "AGENTPROXY_PROXY_USER";
inline constexpr std::string_view kProxyPasswordVar = "AGENTPROXY_PROXY_PASSWORD";
// Written when other policies matched the pod too: their names, comma-separated.
inline constexpr std::string_view kOutvotedAnnotation = "agentproxy.io/outvoted-policies";
// The operator's copies in each selected namespace: the CA bundle ConfigMap and the credentials
// Secret, named after the policy.
inline constexpr std::string_view kCaBundleCopyPrefix = "agentproxy-ca-";
inline constexpr std::string_view kCredentialsCopyPrefix = "agentproxy-proxy-";

class InjectionError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Everything the mutation needs, resolved by the caller from the policy and the cluster.
struct Injection {
  std::string policyName;
  std::string httpsProxy;             // without credentials, as in the policy
  std::string httpProxy;              // defaults to httpsProxy
  std::string noProxy;                // policy::joinNoProxy(policy::effectiveNoProxyEntries(...))
  std::string credentialsSecretName;  // in the pod's namespace; empty: no credentials
  std::string caBundleConfigMapName;  // in the pod's namespace; empty: no CA bundle
  bool overrideExisting = false;
  // sha256 of the CA bundle's content: part of the hash, so a pod started with an older bundle
  // counts as stale. Empty until the operator has computed it.
  std::string caBundleHash;
  // Other policies that matched the pod (kOutvotedAnnotation); not part of the hash.
  std::vector<std::string> outvoted;
  // spec.agentRuntimes (policy::kAgentRuntimes); empty: every runtime's settings.
  std::vector<std::string> runtimes;

  bool injectsFor(std::string_view runtime) const;
};

// prefix + policy name, shortened with a hash suffix when it would exceed the 253 characters of
// an object name, so that every policy name gives a valid and distinct copy name.
std::string copyName(std::string_view prefix, std::string_view policyName);

// Whether pods selected by the policy get a CA bundle (the system CAs, the policy's, or both).
bool hasCaBundle(const policy::ProxyPolicy& policy);

// The Injection for a policy. Throws InjectionError when the policy has credentials but no
// Secret copy is named, or when a proxy URL that must carry credentials does not parse
// (parseProxyPolicy() prevents that).
Injection injectionFor(const policy::ProxyPolicy& policy, std::string noProxy,
                       std::string credentialsSecretName, std::string caBundleConfigMapName);

// The Injection of DESIGN.md for a policy: NO_PROXY from the cluster defaults and the policy's
// entries, the copies named by copyName(). The webhook and the controller both call it, so the
// hash a pod is stamped with and the hash the controller counts against agree.
Injection injectionForPolicy(const policy::ProxyPolicy& policy,
                             const policy::ClusterNetwork& cluster, std::string caBundleHash);

// "sha256 hex" of what the Injection puts in a container and the pod's volumes (not of the
// pod), the CA bundle's content hash and overrideExisting: equal hashes mean equal injections,
// so a stale pod can be told from a current one. The credentials' values are not covered (no
// hash of a secret is ever written): a rotated password reaches pods when they restart.
std::string injectionHash(const Injection& injection);

// An Injection with everything that does not depend on the pod computed once: the env entries,
// the volume and mount, the hash, each with its JSON text. The webhook keeps one per policy
// version, so an admission only walks the pod. Immutable; shared by concurrent requests.
struct PreparedInjection {
  struct Entry {
    std::string name;  // the env variable's or volume's name
    nlohmann::json value;
    std::string text;  // value.dump()
  };
  Injection injection;          // its `outvoted` is not used: that is per pod
  std::string hash;             // injectionHash(injection)
  std::vector<Entry> proxyEnv;  // credentials first, then the eight proxy variables
  std::vector<Entry> caEnv;     // empty without a CA bundle
  // For the JVM (empty otherwise): JAVA_TOOL_OPTIONS' options, all of them and (for a
  // container whose proxy variables are its own) the truststore's alone.
  std::string javaOptions;
  std::string javaTrustOptions;
  Entry volume;                 // without a CA bundle: empty
  Entry mount;
};

// Throws InjectionError as injectionFor() does (a proxy URL that cannot carry credentials).
PreparedInjection prepareInjection(Injection injection);

// The patch that brings `pod` to the injected state, as JSON text: "[]" when it is there.
// `outvoted` names the other policies that matched the pod (kOutvotedAnnotation).
// Values written are the operator's own or whole subtrees of `pod` (env entries), so `pod` may be
// a copy holding only what parseAdmissionReview() keeps.
// Throws InjectionError when the pod is not a JSON object with a spec.containers array, or
// when an existing env, volumeMounts, volumes or annotations is not of the expected type.
std::string writePodPatch(const nlohmann::json& pod, const PreparedInjection& prepared,
                          const std::vector<std::string>& outvoted = {});

// The options the JVM gets for this injection (see above); empty when it injects nothing for
// the JVM. `withProxy` false: the truststore's alone.
std::string javaToolOptions(const Injection& injection, bool withProxy = true);

// writePodPatch() of the prepared `injection`, as a tree: for the tests, which inspect the patch.
nlohmann::json podPatch(const nlohmann::json& pod, const Injection& injection);

}  // namespace agentproxy::injection
