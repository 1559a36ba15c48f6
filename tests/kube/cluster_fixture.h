// A real Kubernetes control plane (scripts/cluster.sh: etcd, kube-apiserver and
// kube-controller-manager v1.36.3 built from their Go modules) as a test fixture, for the kube
// client's integration tests and the benchmarks; and a fault relay in front of it
// (tests/support/fault_relay.py) for the few faults the real server cannot produce on demand.
//
// Guarantees: every cluster has its own folder and free ports; the destructor stops it by PID
// (cluster.sh down), and the script's watchdog stops it when the test process dies first.
// The admin identity is a client certificate in system:masters; serviceAccountToken() makes a
// ServiceAccount and returns a TokenRequest token for it, bound to a ClusterRole when asked.
// Assumptions: cluster.sh's path is the compile definition CLUSTER_SCRIPT and the relay's is
// FAULT_RELAY_SCRIPT; /usr/bin/python3 and openssl are installed.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kube/config.h"
#include "process.h"

namespace agentproxy::kube::testing {

class ClusterProcess {
 public:
  // `apiserverArgs`: extra kube-apiserver flags (e.g. "--min-request-timeout=3").
  explicit ClusterProcess(const std::vector<std::string>& apiserverArgs = {});
  ~ClusterProcess();
  ClusterProcess(const ClusterProcess&) = delete;
  ClusterProcess& operator=(const ClusterProcess&) = delete;

  const std::string& url() const { return url_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path kubeconfig() const { return dir_ / "admin.kubeconfig"; }
  std::filesystem::path caFile() const { return dir_ / "ca.crt"; }
  // The admin (client certificate, system:masters).
  Config adminConfig() const { return loadKubeconfig(kubeconfig()); }
  // A config for `server` (default: this cluster) authenticated by a bearer token.
  Config tokenConfig(const std::string& token, const std::string& server = "") const;

  // Creates ServiceAccount `name` in `ns` (and a ClusterRoleBinding to `clusterRole` unless
  // empty) and returns a 24 h TokenRequest token for it.
  std::string serviceAccountToken(const std::string& ns, const std::string& name,
                                  const std::string& clusterRole);

  // kubectl of the same build, as the admin; returns stdout; throws on failure.
  std::string kubectl(const std::vector<std::string>& args);

  // Stops and starts a component: "apiserver", "etcd" or "controller-manager".
  void restart(const std::string& component);
  void stop(const std::string& component);
  void start(const std::string& component);
  // Compacts etcd at its current revision.
  void compact();

  // The audit log's ResponseComplete events of `username`.
  std::vector<nlohmann::json> auditEvents(const std::string& username) const;

 private:
  std::string script(const std::vector<std::string>& args, std::chrono::seconds timeout);

  std::filesystem::path dir_;
  std::filesystem::path bin_;
  std::string url_;
};

// tests/support/fault_relay.py in front of a cluster: requests go to the real server unless a
// fault is pending. Stopped by PID when destroyed.
class FaultRelay {
 public:
  explicit FaultRelay(const ClusterProcess& cluster);
  ~FaultRelay();
  const std::string& url() const { return url_; }
  // POST /_relay/faults; returns {"pendingFailures", "latencyMs"}.
  nlohmann::json faults(const nlohmann::json& spec);

 private:
  std::unique_ptr<agentproxy::testing::TempDir> dir_;
  std::unique_ptr<agentproxy::testing::ChildProcess> process_;
  std::filesystem::path caFile_;
  std::string url_;
  uint16_t port_ = 0;
};

}  // namespace agentproxy::kube::testing
