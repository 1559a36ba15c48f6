// Addressing Kubernetes resources: which API a kind lives in, the REST path of a collection or
// an object, query strings, and label selectors.
//
// Guarantees: pure functions, no I/O; paths follow the API server's layout (`/api/v1/...` for
// the core group, `/apis/GROUP/VERSION/...` otherwise) and percent-encode each segment;
// selector strings use the syntax the API server parses (`a=b,c in (x,y),!d`).
// Assumptions: names and namespaces are the caller's; an empty namespace on a namespaced type
// means "all namespaces" for collections and is a programming error for a single object
// (std::invalid_argument).
#pragma once

#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agentproxy::kube {

// A kind of resource as the API server routes it: group ("" for core), version, the plural
// resource name in URLs, and whether objects live in a namespace.
struct ResourceType {
  std::string group;
  std::string version;
  std::string plural;
  bool namespaced = true;

  // "pods", "leases.coordination.k8s.io": for messages.
  std::string displayName() const;
  // "v1", "coordination.k8s.io/v1": the apiVersion field of objects of this type.
  std::string apiVersion() const;
  bool operator==(const ResourceType&) const = default;
};

// Types the operator uses.
namespace resources {
ResourceType pods();
ResourceType namespaces();
ResourceType configMaps();
ResourceType secrets();
ResourceType events();
ResourceType leases();
ResourceType deployments();
ResourceType replicaSets();
ResourceType statefulSets();
ResourceType daemonSets();
ResourceType mutatingWebhookConfigurations();
ResourceType proxyPolicies();
}  // namespace resources

// The REST path of a collection (name empty) or an object, optionally of its subresource
// ("status"). Throws std::invalid_argument for an object of a namespaced type without a
// namespace, for a namespace on a cluster-scoped type, or for a subresource without a name.
std::string resourcePath(const ResourceType& type, std::string_view ns, std::string_view name,
                         std::string_view subresource = {});

// RFC 3986 percent-encoding of everything but unreserved characters.
std::string percentEncode(std::string_view text);

// "?k1=v1&k2=v2" with both sides percent-encoded, in the given order; "" when empty.
std::string queryString(const std::vector<std::pair<std::string, std::string>>& params);

// One matchExpressions entry of a metav1.LabelSelector.
struct LabelSelectorRequirement {
  std::string key;
  std::string op;  // In, NotIn, Exists, DoesNotExist
  std::vector<std::string> values;
};

// A metav1.LabelSelector, rendered to the API server's string syntax.
struct LabelSelector {
  std::map<std::string, std::string> matchLabels;
  std::vector<LabelSelectorRequirement> matchExpressions;

  // "app=agent,tier in (a,b),!legacy". Empty for an empty selector (which selects
  // everything). Throws std::invalid_argument on an unknown operator, on In/NotIn without
  // values, or on Exists/DoesNotExist with values: the API server would reject them too.
  std::string toString() const;

  // From the JSON form ({matchLabels: {...}, matchExpressions: [...]}); throws
  // std::invalid_argument naming the bad field.
  static LabelSelector fromJson(const nlohmann::json& selector);
};

}  // namespace agentproxy::kube
