// The ProxyPolicy resource (agentproxy.io/v1alpha1) as plain structs, parsed from the JSON the
// API server returns. Pure: no I/O.
//
// Guarantees: parseProxyPolicy() either returns a spec whose URLs, addresses and durations the
// probe accepts, or throws SpecError naming the field (spec.targets[1].address) and what is
// wrong. Defaults are those of the CRD, so a policy read from an older object is complete.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace agentproxy::policy {

class SpecError : public std::runtime_error {
 public:
  SpecError(std::string field, const std::string& message)
      : std::runtime_error(field + ": " + message), field_(std::move(field)) {}
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

// A key of a ConfigMap or Secret holding PEM certificates.
struct PemSource {
  enum class Kind { ConfigMap, Secret };
  Kind kind = Kind::ConfigMap;
  std::string namespace_;
  std::string name;
  std::string key;
  std::string describe() const;  // "ConfigMap agentproxy-system/corp-ca key ca.crt"
};

struct SecretRef {
  std::string namespace_;
  std::string name;
};

struct LabelRequirement {
  std::string key;
  std::string op;  // In, NotIn, Exists, DoesNotExist
  std::vector<std::string> values;
};

struct LabelSelector {
  std::map<std::string, std::string> matchLabels;
  std::vector<LabelRequirement> matchExpressions;
  bool matches(const std::map<std::string, std::string>& labels) const;
};

struct PolicyTarget {
  std::string address;
  std::string serverName;
  std::optional<PemSource> serverCA;
  std::string websocketPath;
};

// The agent runtimes of DESIGN.md, in this order everywhere (status, the probe's report).
inline constexpr const char* kAgentRuntimes[] = {"grpc-core", "go", "jvm", "node", "dotnet"};
bool isAgentRuntime(const std::string& name);

struct ProxyPolicySpec {
  std::string httpsProxy;
  std::string httpProxy;  // defaulted to httpsProxy
  std::vector<std::string> noProxy;
  std::optional<SecretRef> credentials;
  std::vector<PemSource> caBundles;
  bool includeSystemCAs = true;
  std::vector<PolicyTarget> targets;
  LabelSelector namespaceSelector;
  LabelSelector podSelector;
  bool injectionEnabled = true;
  bool overrideExisting = false;
  bool restartWorkloads = false;
  bool injectSystemNamespaces = false;  // kube-system, kube-public (never the operator's own)
  bool injectHostNetworkPods = false;
  // spec.agentRuntimes: what the selected agents are written in, in kAgentRuntimes order,
  // without duplicates; empty: not said (every runtime's settings are injected, and the
  // classification is judged by the proxy alone).
  std::vector<std::string> agentRuntimes;
  std::chrono::milliseconds probeInterval{std::chrono::minutes(5)};
  std::chrono::milliseconds probeTimeout{std::chrono::seconds(10)};
};

struct ProxyPolicy {
  std::string name;
  std::string uid;
  std::string resourceVersion;
  int64_t generation = 0;
  ProxyPolicySpec spec;
};

// Throws SpecError.
ProxyPolicy parseProxyPolicy(const nlohmann::json& object);

}  // namespace agentproxy::policy
