#include "kube/resource.h"

#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "encoding/encoding.h"

namespace agentproxy::kube {

std::string percentEncode(std::string_view text) { return encoding::percentEncode(text); }

std::string ResourceType::displayName() const {
  return group.empty() ? plural : plural + "." + group;
}

std::string ResourceType::apiVersion() const {
  return group.empty() ? version : group + "/" + version;
}

namespace resources {
ResourceType pods() { return {"", "v1", "pods", true}; }
ResourceType namespaces() { return {"", "v1", "namespaces", false}; }
ResourceType configMaps() { return {"", "v1", "configmaps", true}; }
ResourceType secrets() { return {"", "v1", "secrets", true}; }
ResourceType events() { return {"", "v1", "events", true}; }
ResourceType leases() { return {"coordination.k8s.io", "v1", "leases", true}; }
ResourceType deployments() { return {"apps", "v1", "deployments", true}; }
ResourceType replicaSets() { return {"apps", "v1", "replicasets", true}; }
ResourceType statefulSets() { return {"apps", "v1", "statefulsets", true}; }
ResourceType daemonSets() { return {"apps", "v1", "daemonsets", true}; }
ResourceType mutatingWebhookConfigurations() {
  return {"admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", false};
}
ResourceType proxyPolicies() { return {"agentproxy.io", "v1alpha1", "proxypolicies", false}; }
}  // namespace resources

std::string resourcePath(const ResourceType& type, std::string_view ns, std::string_view name,
                         std::string_view subresource) {
  if (type.plural.empty() || type.version.empty()) {
    throw std::invalid_argument("resource type needs a version and a plural name");
  }
  if (!type.namespaced && !ns.empty()) {
    throw std::invalid_argument(type.displayName() + " is cluster-scoped, but namespace \"" +
                                std::string(ns) + "\" was given");
  }
  if (type.namespaced && ns.empty() && !name.empty()) {
    throw std::invalid_argument(type.displayName() + " \"" + std::string(name) +
                                "\" is namespaced, but no namespace was given");
  }
  if (name.empty() && !subresource.empty()) {
    throw std::invalid_argument("subresource \"" + std::string(subresource) +
                                "\" needs an object name");
  }
  std::string path = type.group.empty()
                         ? "/api/" + percentEncode(type.version)
                         : "/apis/" + percentEncode(type.group) + "/" + percentEncode(type.version);
  if (!ns.empty()) path += "/namespaces/" + percentEncode(ns);
  path += "/" + percentEncode(type.plural);
  if (!name.empty()) path += "/" + percentEncode(name);
  if (!subresource.empty()) path += "/" + percentEncode(subresource);
  return path;
}

std::string queryString(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [key, value] : params) {
    out += out.empty() ? '?' : '&';
    out += percentEncode(key);
    out += '=';
    out += percentEncode(value);
  }
  return out;
}

std::string LabelSelector::toString() const {
  std::string out;
  auto append = [&out](const std::string& term) {
    if (!out.empty()) out += ',';
    out += term;
  };
  for (const auto& [key, value] : matchLabels) append(std::string(key).append("=").append(value));
  for (const auto& req : matchExpressions) {
    if (req.key.empty())
      throw std::invalid_argument("label selector: matchExpressions key is empty");
    if (req.op == "In" || req.op == "NotIn") {
      if (req.values.empty()) {
        throw std::invalid_argument("label selector: operator " + req.op + " on key \"" + req.key +
                                    "\" needs at least one value");
      }
      // The API server sorts values; doing the same makes selectors comparable.
      std::set<std::string> sorted(req.values.begin(), req.values.end());
      std::string list;
      for (const auto& v : sorted) list += (list.empty() ? "" : ",") + v;
      append(req.key + (req.op == "In" ? " in (" : " notin (") + list + ")");
    } else if (req.op == "Exists" || req.op == "DoesNotExist") {
      if (!req.values.empty()) {
        throw std::invalid_argument("label selector: operator " + req.op + " on key \"" + req.key +
                                    "\" takes no values");
      }
      append(req.op == "Exists" ? req.key : "!" + req.key);
    } else {
      throw std::invalid_argument("label selector: unknown operator \"" + req.op + "\" on key \"" +
                                  req.key + "\" (want In, NotIn, Exists or DoesNotExist)");
    }
  }
  return out;
}

LabelSelector LabelSelector::fromJson(const nlohmann::json& selector) {
  LabelSelector out;
  if (selector.is_null()) return out;
  if (!selector.is_object()) throw std::invalid_argument("label selector: not an object");
  if (auto it = selector.find("matchLabels"); it != selector.end() && !it->is_null()) {
    if (!it->is_object()) throw std::invalid_argument("label selector: matchLabels is not a map");
    for (const auto& [key, value] : it->items()) {
      if (!value.is_string()) {
        throw std::invalid_argument("label selector: matchLabels." + key + " is not a string");
      }
      out.matchLabels[key] = value.get<std::string>();
    }
  }
  if (auto it = selector.find("matchExpressions"); it != selector.end() && !it->is_null()) {
    if (!it->is_array()) {
      throw std::invalid_argument("label selector: matchExpressions is not a list");
    }
    size_t index = 0;
    for (const auto& expr : *it) {
      std::string where = "label selector: matchExpressions[" + std::to_string(index++) + "]";
      if (!expr.is_object() || !expr.contains("key") || !expr["key"].is_string() ||
          !expr.contains("operator") || !expr["operator"].is_string()) {
        throw std::invalid_argument(where + " needs a string key and operator");
      }
      LabelSelectorRequirement req{
          expr["key"].get<std::string>(), expr["operator"].get<std::string>(), {}};
      if (auto v = expr.find("values"); v != expr.end() && !v->is_null()) {
        if (!v->is_array()) throw std::invalid_argument(where + ".values is not a list");
        for (const auto& s : *v) {
          if (!s.is_string()) throw std::invalid_argument(where + ".values has a non-string");
          req.values.push_back(s.get<std::string>());
        }
      }
      out.matchExpressions.push_back(std::move(req));
    }
  }
  return out;
}

}  // namespace agentproxy::kube
