#include "webhook/pod_mutation.h"

#include <array>
#include <nlohmann/json.hpp>
#include <set>

#include "encoding/encoding.h"
#include "probe/proxy_url.h"
#include "webhook/json_patch.h"

namespace agentproxy::webhook {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 8> kProxyVars = {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
                                                        "http_proxy",  "NO_PROXY",    "no_proxy",
                                                        "GRPC_PROXY",  "grpc_proxy"};
constexpr std::array<std::string_view, 5> kCaVars = {
    "SSL_CERT_FILE", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", "NODE_EXTRA_CA_CERTS",
    "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"};

json plainVar(std::string_view name, const std::string& value) {
  return {{"name", name}, {"value", value}};
}

json secretVar(std::string_view name, const std::string& secret, const char* key) {
  return {{"name", name}, {"valueFrom", {{"secretKeyRef", {{"name", secret}, {"key", key}}}}}};
}

// The proxy URL with $(VAR) references in place of the credentials.
std::string urlWithCredentialRefs(const std::string& url) {
  try {
    auto parsed = probe::parseProxyUrl(url);
    return parsed.scheme + "://$(" + std::string(kProxyUserVar) + "):$(" +
           std::string(kProxyPasswordVar) + ")@" + parsed.hostPort();
  } catch (const probe::InputError& e) {
    throw InjectionError(std::string("proxy URL: ") + e.what());
  }
}

// Credentials first, then the proxy variables that expand them.
json proxyEnv(const Injection& injection) {
  json env = json::array();
  std::string https = injection.httpsProxy;
  std::string http = injection.httpProxy.empty() ? injection.httpsProxy : injection.httpProxy;
  if (!injection.credentialsSecretName.empty()) {
    env.push_back(secretVar(kProxyUserVar, injection.credentialsSecretName, "username"));
    env.push_back(secretVar(kProxyPasswordVar, injection.credentialsSecretName, "password"));
    https = urlWithCredentialRefs(https);
    http = urlWithCredentialRefs(http);
  }
  const std::string* values[] = {
      &https, &https, &http, &http, &injection.noProxy, &injection.noProxy, &https, &https};
  for (size_t i = 0; i < kProxyVars.size(); ++i) env.push_back(plainVar(kProxyVars[i], *values[i]));
  return env;
}

json caEnv(const Injection& injection) {
  json env = json::array();
  if (injection.caBundleConfigMapName.empty()) return env;
  for (auto name : kCaVars) env.push_back(plainVar(name, std::string(kCaBundleFile)));
  return env;
}

json caVolume(const Injection& injection) {
  return {{"name", kCaVolumeName},
          {"configMap",
           {{"name", injection.caBundleConfigMapName},
            {"items", json::array({{{"key", kCaBundleKey}, {"path", kCaBundleKey}}})}}}};
}

json caMount() {
  return {{"name", kCaVolumeName}, {"mountPath", kCaMountPath}, {"readOnly", true}};
}

// True when `actual` has every member of `wanted` with the same value: the API server adds
// defaults (a ConfigMap volume's defaultMode) to what we write, which must not count as drift.
bool covers(const json& actual, const json& wanted) {
  if (!wanted.is_object()) return actual == wanted;
  if (!actual.is_object()) return false;
  for (const auto& [key, value] : wanted.items()) {
    auto it = actual.find(key);
    if (it == actual.end() || !covers(*it, value)) return false;
  }
  return true;
}

std::string nameOf(const json& entry) {
  if (!entry.is_object()) return {};
  auto name = entry.find("name");
  return name != entry.end() && name->is_string() ? name->get<std::string>() : std::string();
}

// The container's env after injection: ours first, then the container's own entries minus those
// ours replace.
json injectedEnv(const json& existing, const json& proxy, const json& ca, bool overrideExisting) {
  std::set<std::string> present;
  for (const auto& entry : existing) present.insert(nameOf(entry));
  bool setsProxy = false;
  for (auto name : kProxyVars) setsProxy = setsProxy || present.count(std::string(name)) > 0;

  json env = json::array();
  if (overrideExisting || !setsProxy) {
    for (const auto& entry : proxy) env.push_back(entry);
  }
  for (const auto& entry : ca) {
    if (overrideExisting || present.count(nameOf(entry)) == 0) env.push_back(entry);
  }
  std::set<std::string> ours;
  for (const auto& entry : env) ours.insert(nameOf(entry));
  for (const auto& entry : existing) {
    if (ours.count(nameOf(entry)) == 0) env.push_back(entry);
  }
  return env;
}

const json* memberOfType(const json& object, const char* key, json::value_t type,
                         const std::string& path) {
  auto it = object.find(key);
  if (it == object.end()) return nullptr;
  if (it->type() != type) {
    throw InjectionError(path + "/" + key + " must be " +
                         (type == json::value_t::array ? "an array" : "an object") + ", not " +
                         it->type_name());
  }
  return &*it;
}

// Adds, replaces or leaves alone the element named like `wanted` in the array `key` of `parent`.
void ensureNamedElement(const json& parent, const std::string& path, const char* key,
                        const json& wanted, json& patch) {
  const json* array = memberOfType(parent, key, json::value_t::array, path);
  if (!array) {
    patch.push_back({{"op", "add"}, {"path", path + "/" + key}, {"value", json::array({wanted})}});
    return;
  }
  std::string name = nameOf(wanted);
  for (size_t i = 0; i < array->size(); ++i) {
    if (nameOf((*array)[i]) != name) continue;
    if (!covers((*array)[i], wanted)) {
      patch.push_back({{"op", "replace"},
                       {"path", path + "/" + key + "/" + std::to_string(i)},
                       {"value", wanted}});
    }
    return;
  }
  patch.push_back({{"op", "add"}, {"path", path + "/" + key + "/-"}, {"value", wanted}});
}

void patchContainers(const json& spec, const char* key, const Injection& injection,
                     const json& proxy, const json& ca, json& patch) {
  const json* containers = memberOfType(spec, key, json::value_t::array, "/spec");
  if (!containers) return;
  for (size_t i = 0; i < containers->size(); ++i) {
    const json& container = (*containers)[i];
    std::string path = "/spec/" + std::string(key) + "/" + std::to_string(i);
    if (!container.is_object()) throw InjectionError(path + " is not an object");
    const json* existing = memberOfType(container, "env", json::value_t::array, path);
    json env =
        injectedEnv(existing ? *existing : json::array(), proxy, ca, injection.overrideExisting);
    if (!existing || env != *existing) {
      patch.push_back(
          {{"op", existing ? "replace" : "add"}, {"path", path + "/env"}, {"value", env}});
    }
    if (!injection.caBundleConfigMapName.empty()) {
      ensureNamedElement(container, path, "volumeMounts", caMount(), patch);
    }
  }
}

void patchAnnotations(const json& pod, const json& wanted, json& patch) {
  auto metadata = pod.find("metadata");
  if (metadata == pod.end()) {
    patch.push_back({{"op", "add"}, {"path", "/metadata"}, {"value", {{"annotations", wanted}}}});
    return;
  }
  if (!metadata->is_object()) throw InjectionError("/metadata is not an object");
  const json* annotations =
      memberOfType(*metadata, "annotations", json::value_t::object, "/metadata");
  if (!annotations) {
    patch.push_back({{"op", "add"}, {"path", "/metadata/annotations"}, {"value", wanted}});
    return;
  }
  for (const auto& [key, value] : wanted.items()) {
    auto it = annotations->find(key);
    if (it != annotations->end() && *it == value) continue;
    patch.push_back({{"op", it == annotations->end() ? "add" : "replace"},
                     {"path", "/metadata/annotations/" + escapePointerToken(key)},
                     {"value", value}});
  }
}

}  // namespace

Injection injectionFor(const policy::ProxyPolicy& policy, std::string noProxy,
                       std::string credentialsSecretName, std::string caBundleConfigMapName) {
  if (policy.spec.credentials && credentialsSecretName.empty()) {
    throw InjectionError("ProxyPolicy " + policy.name +
                         " has credentials but no Secret copy in the pod's namespace was named");
  }
  Injection injection;
  injection.policyName = policy.name;
  injection.httpsProxy = policy.spec.httpsProxy;
  injection.httpProxy =
      policy.spec.httpProxy.empty() ? policy.spec.httpsProxy : policy.spec.httpProxy;
  injection.noProxy = std::move(noProxy);
  injection.credentialsSecretName =
      policy.spec.credentials ? std::move(credentialsSecretName) : std::string();
  injection.caBundleConfigMapName = std::move(caBundleConfigMapName);
  injection.overrideExisting = policy.spec.overrideExisting;
  // With credentials the URLs are rewritten: one that does not parse fails here, not at admission.
  proxyEnv(injection);
  return injection;
}

std::string copyName(std::string_view prefix, std::string_view policyName) {
  constexpr size_t kMaxName = 253;
  std::string name = std::string(prefix) + std::string(policyName);
  if (name.size() <= kMaxName) return name;
  auto digest = encoding::sha256Hex(policyName).substr(0, 16);
  name.resize(kMaxName - digest.size() - 1);
  while (!name.empty() && (name.back() == '.' || name.back() == '-')) name.pop_back();
  return name + "-" + digest;
}

bool hasCaBundle(const policy::ProxyPolicy& policy) {
  return policy.spec.includeSystemCAs || !policy.spec.caBundles.empty();
}

Injection injectionForPolicy(const policy::ProxyPolicy& policy,
                             const policy::ClusterNetwork& cluster, std::string caBundleHash) {
  auto injection = injectionFor(
      policy, policy::joinNoProxy(policy::effectiveNoProxyEntries(policy.spec.noProxy, cluster)),
      policy.spec.credentials ? copyName(kCredentialsCopyPrefix, policy.name) : std::string(),
      hasCaBundle(policy) ? copyName(kCaBundleCopyPrefix, policy.name) : std::string());
  injection.caBundleHash = std::move(caBundleHash);
  return injection;
}

std::string injectionHash(const Injection& injection) {
  json injected = {{"env", proxyEnv(injection)}, {"caEnv", caEnv(injection)}};
  if (!injection.caBundleHash.empty()) injected["caBundleHash"] = injection.caBundleHash;
  if (injection.overrideExisting) injected["overrideExisting"] = true;
  if (!injection.caBundleConfigMapName.empty()) {
    injected["volume"] = caVolume(injection);
    injected["mount"] = caMount();
  }
  return encoding::sha256Hex(injected.dump());
}

json podPatch(const json& pod, const Injection& injection) {
  if (!pod.is_object()) throw InjectionError("the pod is not a JSON object");
  auto spec = pod.find("spec");
  if (spec == pod.end() || !spec->is_object()) throw InjectionError("the pod has no spec");
  if (!memberOfType(*spec, "containers", json::value_t::array, "/spec")) {
    throw InjectionError("the pod has no spec.containers");
  }
  json proxy = proxyEnv(injection);
  json ca = caEnv(injection);
  json patch = json::array();
  patchContainers(*spec, "initContainers", injection, proxy, ca, patch);
  patchContainers(*spec, "containers", injection, proxy, ca, patch);
  if (!injection.caBundleConfigMapName.empty()) {
    ensureNamedElement(*spec, "/spec", "volumes", caVolume(injection), patch);
  }
  json annotations = {{kPolicyAnnotation, injection.policyName},
                      {kHashAnnotation, injectionHash(injection)}};
  if (!injection.outvoted.empty()) {
    std::string names;
    for (const auto& name : injection.outvoted) names += (names.empty() ? "" : ",") + name;
    annotations[std::string(kOutvotedAnnotation)] = names;
  }
  patchAnnotations(pod, annotations, patch);
  return patch;
}

}  // namespace agentproxy::webhook
