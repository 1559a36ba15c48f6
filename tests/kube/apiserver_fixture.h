// The project's test API server (tests/apiserver/kube_apiserver.py) as a child process, for
// the kube client's integration tests.
//
// Guarantees: the server listens on 127.0.0.1 only; it is stopped by PID when the fixture is
// destroyed, pass or fail, and dies with the test (ChildProcess: PR_SET_PDEATHSIG through a
// guardian); its directory is removed. faults() and requestCounts() talk to its /_test
// endpoints.
// Assumptions: /usr/bin/python3 with Debian's python3-* packages; KUBE_APISERVER_SCRIPT is
// the script's absolute path (a compile definition).
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "kube/client.h"
#include "kube/config.h"
#include "process.h"

namespace agentproxy::kube::testing {

class ApiServerProcess {
 public:
  explicit ApiServerProcess(double bookmarkIntervalSeconds = 1.0);
  ~ApiServerProcess();

  const std::string& url() const { return url_; }
  const std::string& token() const { return token_; }
  uint16_t port() const { return port_; }
  std::filesystem::path kubeconfig() const { return dir_->path() / "srv" / "kubeconfig"; }
  std::filesystem::path caFile() const { return dir_->path() / "srv" / "ca.crt"; }
  const std::filesystem::path& dir() const { return dir_->path(); }
  Config config() const { return loadKubeconfig(kubeconfig()); }

  // POST /_test/faults with `spec`; returns the fault state.
  nlohmann::json faults(const nlohmann::json& spec);
  // GET /_test/requests.
  nlohmann::json requests();
  void resetRequests();

 private:
  std::unique_ptr<agentproxy::testing::TempDir> dir_;
  std::unique_ptr<agentproxy::testing::ChildProcess> process_;
  std::unique_ptr<Client> admin_;
  std::string url_;
  std::string token_;
  uint16_t port_ = 0;
};

}  // namespace agentproxy::kube::testing
