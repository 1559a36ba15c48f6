#include "policy/proxy_policy.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "probe/duration.h"
#include "probe/proxy_url.h"

namespace agentproxy::policy {
namespace {

using nlohmann::json;

const json* child(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

std::string stringAt(const json& object, const char* key, const std::string& path, bool required) {
  const json* value = child(object, key);
  if (!value) {
    if (required) throw SpecError(path + "." + key, "Required value");
    return {};
  }
  if (!value->is_string()) throw SpecError(path + "." + key, "must be a string");
  auto s = value->get<std::string>();
  if (required && s.empty()) throw SpecError(path + "." + key, "must not be empty");
  return s;
}

bool boolAt(const json& object, const char* key, const std::string& path, bool fallback) {
  const json* value = child(object, key);
  if (!value) return fallback;
  if (!value->is_boolean()) throw SpecError(path + "." + key, "must be true or false");
  return value->get<bool>();
}

const json& arrayAt(const json& object, const char* key, const std::string& path) {
  static const json kEmpty = json::array();
  const json* value = child(object, key);
  if (!value) return kEmpty;
  if (!value->is_array()) throw SpecError(path + "." + key, "must be a list");
  return *value;
}

const json& objectAt(const json& object, const char* key, const std::string& path) {
  static const json kEmpty = json::object();
  const json* value = child(object, key);
  if (!value) return kEmpty;
  if (!value->is_object()) throw SpecError(path + "." + key, "must be an object");
  return *value;
}

// A proxy URL as the probe will use it; the credentials belong in credentialsSecretRef.
std::string proxyUrlAt(const json& proxy, const char* key, const std::string& path, bool required) {
  auto url = stringAt(proxy, key, path, required);
  if (url.empty()) return url;
  try {
    auto parsed = probe::parseProxyUrl(url);
    if (parsed.hasCredentials()) {
      throw SpecError(path + "." + key,
                      "must not contain credentials: put them in a Secret named by "
                      "spec.proxy.credentialsSecretRef");
    }
  } catch (const probe::InputError& e) {
    throw SpecError(path + "." + key, e.what());
  }
  return url;
}

std::optional<PemSource> pemSourceAt(const json& object, const std::string& path) {
  const json* cm = child(object, "configMapRef");
  const json* secret = child(object, "secretRef");
  if ((cm != nullptr) == (secret != nullptr)) {
    throw SpecError(path, "set exactly one of configMapRef and secretRef");
  }
  PemSource source;
  source.kind = cm ? PemSource::Kind::ConfigMap : PemSource::Kind::Secret;
  const json& ref = cm ? *cm : *secret;
  std::string refPath = path + (cm ? ".configMapRef" : ".secretRef");
  source.namespace_ = stringAt(ref, "namespace", refPath, true);
  source.name = stringAt(ref, "name", refPath, true);
  source.key = stringAt(ref, "key", refPath, true);
  return source;
}

LabelSelector selectorAt(const json& object, const std::string& path) {
  LabelSelector selector;
  for (const auto& [key, value] : objectAt(object, "matchLabels", path).items()) {
    if (!value.is_string()) throw SpecError(path + ".matchLabels." + key, "must be a string");
    selector.matchLabels[key] = value.get<std::string>();
  }
  const json& expressions = arrayAt(object, "matchExpressions", path);
  for (size_t i = 0; i < expressions.size(); ++i) {
    std::string itemPath = path + ".matchExpressions[" + std::to_string(i) + "]";
    LabelRequirement r;
    r.key = stringAt(expressions[i], "key", itemPath, true);
    r.op = stringAt(expressions[i], "operator", itemPath, true);
    for (const auto& v : arrayAt(expressions[i], "values", itemPath)) {
      if (!v.is_string()) throw SpecError(itemPath + ".values", "must be strings");
      r.values.push_back(v.get<std::string>());
    }
    bool needsValues = r.op == "In" || r.op == "NotIn";
    if (!needsValues && r.op != "Exists" && r.op != "DoesNotExist") {
      throw SpecError(itemPath + ".operator",
                      "Unsupported value: \"" + r.op + "\" (want In, NotIn, Exists, DoesNotExist)");
    }
    if (needsValues == r.values.empty()) {
      throw SpecError(itemPath + ".values",
                      needsValues ? "must not be empty for " + r.op : "must be empty for " + r.op);
    }
    selector.matchExpressions.push_back(std::move(r));
  }
  return selector;
}

std::chrono::milliseconds durationAt(const json& object, const char* key, const std::string& path,
                                     std::chrono::milliseconds fallback,
                                     std::chrono::milliseconds min, std::chrono::milliseconds max) {
  auto text = stringAt(object, key, path, false);
  if (text.empty()) return fallback;
  std::chrono::milliseconds value;
  try {
    value = probe::parseDuration(text);
  } catch (const probe::InputError& e) {
    throw SpecError(path + "." + key, e.what());
  }
  if (value < min || value > max) {
    throw SpecError(path + "." + key, "\"" + text + "\" is out of range");
  }
  return value;
}

}  // namespace

std::string PemSource::describe() const {
  return std::string(kind == Kind::ConfigMap ? "ConfigMap " : "Secret ") + namespace_ + "/" + name +
         " key " + key;
}

bool LabelSelector::matches(const std::map<std::string, std::string>& labels) const {
  for (const auto& [key, value] : matchLabels) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  for (const auto& r : matchExpressions) {
    auto it = labels.find(r.key);
    bool has = it != labels.end();
    bool in = has && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
    if ((r.op == "In" && !in) || (r.op == "NotIn" && in) || (r.op == "Exists" && !has) ||
        (r.op == "DoesNotExist" && has)) {
      return false;
    }
  }
  return true;
}

bool isAgentRuntime(const std::string& name) {
  for (const char* r : kAgentRuntimes) {
    if (name == r) return true;
  }
  return false;
}

ProxyPolicy parseProxyPolicy(const json& object) {
  ProxyPolicy policy;
  const json& metadata = objectAt(object, "metadata", "");
  policy.name = stringAt(metadata, "name", "metadata", true);
  policy.uid = stringAt(metadata, "uid", "metadata", false);
  policy.resourceVersion = stringAt(metadata, "resourceVersion", "metadata", false);
  if (const json* g = child(metadata, "generation"); g && g->is_number_integer()) {
    policy.generation = g->get<int64_t>();
  }

  const json* specJson = child(object, "spec");
  if (!specJson || !specJson->is_object()) throw SpecError("spec", "Required value");
  ProxyPolicySpec& spec = policy.spec;

  const json* proxy = child(*specJson, "proxy");
  if (!proxy || !proxy->is_object()) throw SpecError("spec.proxy", "Required value");
  spec.httpsProxy = proxyUrlAt(*proxy, "httpsProxy", "spec.proxy", true);
  spec.httpProxy = proxyUrlAt(*proxy, "httpProxy", "spec.proxy", false);
  if (spec.httpProxy.empty()) spec.httpProxy = spec.httpsProxy;
  const json& noProxy = arrayAt(*proxy, "noProxy", "spec.proxy");
  for (size_t i = 0; i < noProxy.size(); ++i) {
    if (!noProxy[i].is_string() || noProxy[i].get<std::string>().empty()) {
      throw SpecError("spec.proxy.noProxy[" + std::to_string(i) + "]",
                      "must be a non-empty string");
    }
    spec.noProxy.push_back(noProxy[i].get<std::string>());
  }
  if (const json* creds = child(*proxy, "credentialsSecretRef")) {
    spec.credentials =
        SecretRef{stringAt(*creds, "namespace", "spec.proxy.credentialsSecretRef", true),
                  stringAt(*creds, "name", "spec.proxy.credentialsSecretRef", true)};
  }

  const json& trust = objectAt(*specJson, "trust", "spec");
  const json& bundles = arrayAt(trust, "caBundles", "spec.trust");
  for (size_t i = 0; i < bundles.size(); ++i) {
    spec.caBundles.push_back(
        *pemSourceAt(bundles[i], "spec.trust.caBundles[" + std::to_string(i) + "]"));
  }
  spec.includeSystemCAs = boolAt(trust, "includeSystemCAs", "spec.trust", true);

  const json& targets = arrayAt(*specJson, "targets", "spec");
  if (targets.empty()) throw SpecError("spec.targets", "at least one target is required");
  for (size_t i = 0; i < targets.size(); ++i) {
    std::string path = "spec.targets[" + std::to_string(i) + "]";
    PolicyTarget target;
    target.address = stringAt(targets[i], "address", path, true);
    try {
      probe::parseTargetAddress(target.address);
    } catch (const probe::InputError& e) {
      throw SpecError(path + ".address", e.what());
    }
    target.serverName = stringAt(targets[i], "serverName", path, false);
    if (const json* ca = child(targets[i], "serverCA")) {
      target.serverCA = pemSourceAt(*ca, path + ".serverCA");
    }
    target.websocketPath = stringAt(targets[i], "websocketPath", path, false);
    if (!target.websocketPath.empty() && target.websocketPath.front() != '/') {
      throw SpecError(path + ".websocketPath", "must be a path starting with /");
    }
    spec.targets.push_back(std::move(target));
  }

  const json& selector = objectAt(*specJson, "selector", "spec");
  spec.namespaceSelector = selectorAt(objectAt(selector, "namespaceSelector", "spec.selector"),
                                      "spec.selector.namespaceSelector");
  spec.podSelector =
      selectorAt(objectAt(selector, "podSelector", "spec.selector"), "spec.selector.podSelector");

  const json& runtimes = arrayAt(*specJson, "agentRuntimes", "spec");
  for (size_t i = 0; i < runtimes.size(); ++i) {
    if (!runtimes[i].is_string() || !isAgentRuntime(runtimes[i].get<std::string>())) {
      throw SpecError("spec.agentRuntimes[" + std::to_string(i) + "]",
                      "must be one of grpc-core, go, jvm, node, dotnet");
    }
  }
  for (const char* name : kAgentRuntimes) {
    for (const auto& r : runtimes) {
      if (r.get<std::string>() == name) {
        spec.agentRuntimes.push_back(name);
        break;
      }
    }
  }

  const json& injection = objectAt(*specJson, "injection", "spec");
  spec.injectionEnabled = boolAt(injection, "enabled", "spec.injection", true);
  spec.overrideExisting = boolAt(injection, "overrideExisting", "spec.injection", false);
  spec.restartWorkloads = boolAt(injection, "restartWorkloads", "spec.injection", false);
  spec.injectSystemNamespaces = boolAt(injection, "systemNamespaces", "spec.injection", false);
  spec.injectHostNetworkPods = boolAt(injection, "hostNetworkPods", "spec.injection", false);

  using namespace std::chrono_literals;
  const json& probe = objectAt(*specJson, "probe", "spec");
  spec.probeInterval = durationAt(probe, "interval", "spec.probe", 5min, 30s, 24h);
  spec.probeTimeout = durationAt(probe, "timeout", "spec.probe", 10s, 1s, 60s);
  return policy;
}

}  // namespace agentproxy::policy
