// Where the API server is and how to authenticate to it: from a kubeconfig file or from the
// pod's service account (in-cluster).
//
// Guarantees: a returned Config has an https:// (or http://) server URL and usable TLS
// material: every PEM it holds parses as at least one certificate (or a private key), checked
// when loading, so a broken file fails here with a ConfigError naming the file and the field,
// never later in a TLS handshake. Relative file paths in a kubeconfig are resolved against
// the kubeconfig's directory, as kubectl does. A token file (in-cluster) is recorded as a
// path: the client re-reads it when it changes, because bound service-account tokens rotate.
// Assumptions: only the first file of a multi-file KUBECONFIG is read (no merging); exec and
// auth-provider credential plugins are not supported (a user that needs one is a ConfigError).
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace agentproxy::kube {

struct Config {
  std::string server;  // "https://10.96.0.1:443", no trailing slash
  std::string caPem;   // trusted CAs; empty: the system roots
  bool insecureSkipTlsVerify = false;
  std::string bearerToken;          // a static token; empty when none
  std::filesystem::path tokenFile;  // re-read when it changes; wins over bearerToken
  std::string clientCertPem;        // client certificate (chain) for mutual TLS
  std::string clientKeyPem;
  std::string defaultNamespace = "default";
  std::string source;  // "kubeconfig /x, context foo" or "in-cluster": for messages
};

// Parses kubeconfig text. `path` is used in messages and to resolve relative paths. Throws
// ConfigError, e.g. `kubeconfig /x: context "foo" names cluster "bar", which is not defined`.
Config parseKubeconfig(std::string_view yamlText, const std::filesystem::path& path,
                       std::optional<std::string> context = std::nullopt);

// Reads and parses a kubeconfig file (ConfigError when it cannot be read).
Config loadKubeconfig(const std::filesystem::path& path,
                      std::optional<std::string> context = std::nullopt);

// Where the in-cluster configuration comes from; tests point these elsewhere.
struct InClusterSource {
  std::filesystem::path tokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::filesystem::path caFile = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::filesystem::path namespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
  // Environment lookup (KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT); std::getenv when
  // empty.
  std::function<std::optional<std::string>(const std::string&)> getenv;
};

// The pod's service account. Throws ConfigError naming the missing variable or file.
Config inClusterConfig(const InClusterSource& source = {});

// True when KUBERNETES_SERVICE_HOST is set (we are in a pod).
bool runningInCluster();

// The operator's choice: an explicit path, else $KUBECONFIG (its first entry), else
// in-cluster when in a pod, else ~/.kube/config.
Config defaultConfig(const std::optional<std::filesystem::path>& explicitKubeconfig = std::nullopt);

}  // namespace agentproxy::kube
