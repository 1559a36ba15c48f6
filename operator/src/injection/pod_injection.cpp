#include "injection/pod_injection.h"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>

#include "encoding/encoding.h"
#include "probe/proxy_url.h"
#include "injection/json_patch.h"

namespace agentproxy::injection {
namespace {

using nlohmann::json;

// A container that sets any of these keeps its own proxy settings (unless overrideExisting).
constexpr std::array<std::string_view, 9> kProxyVars = {
    "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",   "NO_PROXY",
    "no_proxy",    "GRPC_PROXY",  "grpc_proxy", "no_grpc_proxy"};
constexpr std::array<std::string_view, 5> kCaVars = {
    "SSL_CERT_FILE", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", "NODE_EXTRA_CA_CERTS",
    "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"};

json plainVar(std::string_view name, const std::string& value) {
  return {{"name", name}, {"value", value}};
}

json secretVar(std::string_view name, const std::string& secret, const char* key) {
  return {{"name", name}, {"valueFrom", {{"secretKeyRef", {{"name", secret}, {"key", key}}}}}};
}

probe::ProxyUrl parsedProxy(const std::string& url) {
  try {
    return probe::parseProxyUrl(url);
  } catch (const probe::InputError& e) {
    throw InjectionError(std::string("proxy URL: ") + e.what());
  }
}

// scheme://host:port with the port written out, and with $(VAR) references in place of the
// credentials when there are any.
std::string injectedUrl(const std::string& url, bool credentials) {
  auto parsed = parsedProxy(url);
  if (!credentials) return parsed.scheme + "://" + parsed.hostPort();
  return parsed.scheme + "://$(" + std::string(kProxyUserVar) + "):$(" +
         std::string(kProxyPasswordVar) + ")@" + parsed.hostPort();
}

std::string httpProxyOf(const Injection& injection) {
  return injection.httpProxy.empty() ? injection.httpsProxy : injection.httpProxy;
}

// The proxy gRPC C-core and grpc-js get: they speak only http:// to a proxy.
std::string grpcProxyOf(const Injection& injection) {
  auto http = httpProxyOf(injection);
  if (injection.httpsProxy.rfind("http://", 0) == 0) return injection.httpsProxy;
  if (http.rfind("http://", 0) == 0) return http;
  return injection.httpsProxy;
}

// Credentials first, then the proxy variables that expand them.
json proxyEnv(const Injection& injection) {
  json env = json::array();
  const bool credentials = !injection.credentialsSecretName.empty();
  if (credentials) {
    env.push_back(secretVar(kProxyUserVar, injection.credentialsSecretName, "username"));
    env.push_back(secretVar(kProxyPasswordVar, injection.credentialsSecretName, "password"));
  }
  const std::string https = injectedUrl(injection.httpsProxy, credentials);
  const std::string http = injectedUrl(httpProxyOf(injection), credentials);
  env.push_back(plainVar("HTTPS_PROXY", https));
  env.push_back(plainVar("https_proxy", https));
  env.push_back(plainVar("HTTP_PROXY", http));
  env.push_back(plainVar("http_proxy", http));
  env.push_back(plainVar("NO_PROXY", injection.noProxy));
  env.push_back(plainVar("no_proxy", injection.noProxy));
  if (injection.injectsFor("grpc-core") || injection.injectsFor("node")) {
    const std::string grpc = injectedUrl(grpcProxyOf(injection), credentials);
    env.push_back(plainVar("GRPC_PROXY", grpc));
    env.push_back(plainVar("grpc_proxy", grpc));
    env.push_back(plainVar("no_grpc_proxy", injection.noProxy));
  }
  if (injection.injectsFor("node")) env.push_back(plainVar("NODE_USE_ENV_PROXY", "1"));
  return env;
}

std::vector<std::string> splitNoProxy(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    auto entry = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!entry.empty()) out.push_back(entry);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

json caEnv(const Injection& injection) {
  json env = json::array();
  if (injection.caBundleConfigMapName.empty()) return env;
  for (auto name : kCaVars) env.push_back(plainVar(name, std::string(kCaBundleFile)));
  return env;
}

json caVolume(const Injection& injection) {
  json items = json::array({{{"key", kCaBundleKey}, {"path", kCaBundleKey}}});
  if (injection.injectsFor("jvm")) items.push_back({{"key", kTruststoreKey}, {"path", kTruststoreKey}});
  return {{"name", kCaVolumeName},
          {"configMap", {{"name", injection.caBundleConfigMapName}, {"items", items}}}};
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

// The entry's name; empty when it has none. Points into `entry`.
std::string_view nameOf(const json& entry) {
  if (!entry.is_object()) return {};
  auto name = entry.find("name");
  return name != entry.end() && name->is_string()
             ? std::string_view(name->get_ref<const std::string&>())
             : std::string_view();
}

std::string jsonString(std::string_view text) {
  std::string out;
  encoding::appendJsonString(out, text);
  return out;
}

// The patch as JSON text, one operation at a time.
class PatchWriter {
 public:
  void operation(std::string_view op, std::string_view path, std::string_view value) {
    text_ += text_.empty() ? "[" : ",";
    text_ += R"({"op":")";
    text_ += op;
    text_ += R"(","path":)";
    encoding::appendJsonString(text_, path);
    text_ += R"(,"value":)";
    text_ += value;
    text_ += '}';
  }
  std::string finish() && { return text_.empty() ? "[]" : std::move(text_) + "]"; }

 private:
  std::string text_;
};

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

using Entry = PreparedInjection::Entry;

bool hasName(const std::vector<const Entry*>& entries, std::string_view name) {
  for (const Entry* e : entries) {
    if (e->name == name) return true;
  }
  return false;
}

// The container's env after injection: ours first, then the container's own entries minus those
// ours replace. Written (add when missing, replace when different) only when it changes.
void patchEnv(const json* existing, const std::string& path, const PreparedInjection& prepared,
              PatchWriter& patch) {
  static const json kEmpty = json::array();
  const json& env = existing ? *existing : kEmpty;
  std::vector<std::string_view> names;
  names.reserve(env.size());
  for (const auto& entry : env) names.push_back(nameOf(entry));
  auto present = [&names](std::string_view name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  const bool override = prepared.injection.overrideExisting;
  bool setsProxy = false;
  for (auto name : kProxyVars) setsProxy = setsProxy || present(name);
  std::vector<const Entry*> ours;
  if (override || !setsProxy) {
    for (const auto& entry : prepared.proxyEnv) ours.push_back(&entry);
  }
  for (const auto& entry : prepared.caEnv) {
    if (override || !present(entry.name)) ours.push_back(&entry);
  }
  // JAVA_TOOL_OPTIONS: ours appended to the container's own plain value, or an entry of ours.
  const std::string& java =
      (override || !setsProxy) ? prepared.javaOptions : prepared.javaTrustOptions;
  Entry javaEntry;
  int javaIndex = -1;        // the container's own JAVA_TOOL_OPTIONS
  std::string javaAppended;  // its value with ours appended (JSON text), when it changes
  if (!java.empty()) {
    for (size_t i = 0; i < env.size(); ++i) {
      if (names[i] == kJavaToolOptionsVar) javaIndex = static_cast<int>(i);
    }
    if (javaIndex < 0) {
      javaEntry = {std::string(kJavaToolOptionsVar), plainVar(kJavaToolOptionsVar, java), ""};
      javaEntry.text = javaEntry.value.dump();
      ours.push_back(&javaEntry);
    } else {
      const json& own = env[static_cast<size_t>(javaIndex)];
      auto value = own.find("value");
      bool plain = !own.contains("valueFrom") && (value == own.end() || value->is_string());
      std::string text = value != own.end() && value->is_string() ? value->get<std::string>() : "";
      bool hasOurs = text.size() >= java.size() &&
                     text.compare(text.size() - java.size(), java.size(), java) == 0;
      if (plain && !hasOurs) {
        javaAppended = plainVar(kJavaToolOptionsVar, text.empty() ? java : text + " " + java).dump();
      }
    }
  }

  // Unchanged when the env starts with ours and none of the rest has one of our names.
  bool unchanged = existing && env.size() >= ours.size() && javaAppended.empty();
  for (size_t i = 0; unchanged && i < ours.size(); ++i) unchanged = env[i] == ours[i]->value;
  for (size_t i = ours.size(); unchanged && i < env.size(); ++i) {
    unchanged = !hasName(ours, names[i]);
  }
  if (unchanged) return;

  std::string value = "[";
  for (const Entry* entry : ours) {
    if (value.size() > 1) value += ',';
    value += entry->text;
  }
  for (size_t i = 0; i < env.size(); ++i) {
    if (hasName(ours, names[i])) continue;
    if (value.size() > 1) value += ',';
    value += static_cast<int>(i) == javaIndex && !javaAppended.empty() ? javaAppended
                                                                        : env[i].dump();
  }
  value += ']';
  patch.operation(existing ? "replace" : "add", path + "/env", value);
}

// Adds, replaces or leaves alone the element named like `wanted` in the array `key` of `parent`.
void ensureNamedElement(const json& parent, const std::string& path, const char* key,
                        const Entry& wanted, PatchWriter& patch) {
  const json* array = memberOfType(parent, key, json::value_t::array, path);
  if (!array) {
    patch.operation("add", path + "/" + key, "[" + wanted.text + "]");
    return;
  }
  for (size_t i = 0; i < array->size(); ++i) {
    if (nameOf((*array)[i]) != wanted.name) continue;
    if (!covers((*array)[i], wanted.value)) {
      patch.operation("replace", path + "/" + key + "/" + std::to_string(i), wanted.text);
    }
    return;
  }
  patch.operation("add", path + "/" + key + "/-", wanted.text);
}

void patchContainers(const json& spec, const char* key, const PreparedInjection& prepared,
                     PatchWriter& patch) {
  const json* containers = memberOfType(spec, key, json::value_t::array, "/spec");
  if (!containers) return;
  for (size_t i = 0; i < containers->size(); ++i) {
    const json& container = (*containers)[i];
    std::string path = "/spec/" + std::string(key) + "/" + std::to_string(i);
    if (!container.is_object()) throw InjectionError(path + " is not an object");
    patchEnv(memberOfType(container, "env", json::value_t::array, path), path, prepared, patch);
    if (!prepared.injection.caBundleConfigMapName.empty()) {
      ensureNamedElement(container, path, "volumeMounts", prepared.mount, patch);
    }
  }
}

void patchAnnotations(const json& pod,
                      const std::vector<std::pair<std::string_view, std::string>>& wanted,
                      PatchWriter& patch) {
  auto object = [&wanted] {
    json annotations = json::object();
    for (const auto& [key, value] : wanted) annotations[std::string(key)] = value;
    return annotations;
  };
  auto metadata = pod.find("metadata");
  if (metadata == pod.end()) {
    patch.operation("add", "/metadata", json{{"annotations", object()}}.dump());
    return;
  }
  if (!metadata->is_object()) throw InjectionError("/metadata is not an object");
  const json* annotations =
      memberOfType(*metadata, "annotations", json::value_t::object, "/metadata");
  if (!annotations) {
    patch.operation("add", "/metadata/annotations", object().dump());
    return;
  }
  for (const auto& [key, value] : wanted) {
    auto it = annotations->find(key);
    if (it != annotations->end() && it->is_string() && it->get_ref<const std::string&>() == value) {
      continue;
    }
    patch.operation(it == annotations->end() ? "add" : "replace",
                    "/metadata/annotations/" + escapePointerToken(key), jsonString(value));
  }
}

Entry entry(json value) {
  auto name = std::string(nameOf(value));
  auto text = value.dump();
  return {std::move(name), std::move(value), std::move(text)};
}

std::vector<Entry> entries(const json& array) {
  std::vector<Entry> out;
  for (const auto& value : array) out.push_back(entry(value));
  return out;
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
  injection.runtimes = policy.spec.agentRuntimes;
  // With credentials the URLs are rewritten: one that does not parse fails here, not at admission.
  proxyEnv(injection);
  return injection;
}

bool Injection::injectsFor(std::string_view runtime) const {
  return runtimes.empty() || std::find(runtimes.begin(), runtimes.end(), runtime) != runtimes.end();
}

std::string javaToolOptions(const Injection& injection, bool withProxy) {
  if (!injection.injectsFor("jvm")) return "";
  std::string out;
  auto add = [&out](const std::string& option) { out += (out.empty() ? "" : " ") + option; };
  if (withProxy) {
    auto https = parsedProxy(injection.httpsProxy);
    auto http = parsedProxy(httpProxyOf(injection));
    // hostPort() brackets an IPv6 literal; the JVM wants the address alone.
    add("-Dhttps.proxyHost=" + https.host);
    add("-Dhttps.proxyPort=" + std::to_string(https.port));
    add("-Dhttp.proxyHost=" + http.host);
    add("-Dhttp.proxyPort=" + std::to_string(http.port));
    auto nonProxy = policy::javaNonProxyHosts(splitNoProxy(injection.noProxy));
    if (!nonProxy.empty()) add("-Dhttp.nonProxyHosts=" + nonProxy);
  }
  if (!injection.caBundleConfigMapName.empty()) {
    add("-Djavax.net.ssl.trustStore=" + std::string(kTruststoreFile));
    add("-Djavax.net.ssl.trustStoreType=PKCS12");
  }
  return out;
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
  if (auto java = javaToolOptions(injection); !java.empty()) injected["javaToolOptions"] = java;
  if (!injection.caBundleHash.empty()) injected["caBundleHash"] = injection.caBundleHash;
  if (injection.overrideExisting) injected["overrideExisting"] = true;
  if (!injection.caBundleConfigMapName.empty()) {
    injected["volume"] = caVolume(injection);
    injected["mount"] = caMount();
  }
  return encoding::sha256Hex(injected.dump());
}

PreparedInjection prepareInjection(Injection injection) {
  PreparedInjection prepared;
  prepared.hash = injectionHash(injection);
  prepared.proxyEnv = entries(proxyEnv(injection));
  prepared.caEnv = entries(caEnv(injection));
  prepared.javaOptions = javaToolOptions(injection, true);
  prepared.javaTrustOptions = javaToolOptions(injection, false);
  if (!injection.caBundleConfigMapName.empty()) {
    prepared.volume = entry(caVolume(injection));
    prepared.mount = entry(caMount());
  }
  prepared.injection = std::move(injection);
  return prepared;
}

std::string writePodPatch(const json& pod, const PreparedInjection& prepared,
                          const std::vector<std::string>& outvoted) {
  if (!pod.is_object()) throw InjectionError("the pod is not a JSON object");
  auto spec = pod.find("spec");
  if (spec == pod.end() || !spec->is_object()) throw InjectionError("the pod has no spec");
  if (!memberOfType(*spec, "containers", json::value_t::array, "/spec")) {
    throw InjectionError("the pod has no spec.containers");
  }
  PatchWriter patch;
  patchContainers(*spec, "initContainers", prepared, patch);
  patchContainers(*spec, "containers", prepared, patch);
  if (!prepared.injection.caBundleConfigMapName.empty()) {
    ensureNamedElement(*spec, "/spec", "volumes", prepared.volume, patch);
  }
  std::vector<std::pair<std::string_view, std::string>> annotations = {
      {kPolicyAnnotation, prepared.injection.policyName}, {kHashAnnotation, prepared.hash}};
  if (!outvoted.empty()) {
    std::string names;
    for (const auto& name : outvoted) names += (names.empty() ? "" : ",") + name;
    annotations.emplace_back(kOutvotedAnnotation, std::move(names));
  }
  patchAnnotations(pod, annotations, patch);
  return std::move(patch).finish();
}

json podPatch(const json& pod, const Injection& injection) {
  return json::parse(writePodPatch(pod, prepareInjection(injection), injection.outvoted));
}

}  // namespace agentproxy::injection
