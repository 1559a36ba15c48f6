#include "cluster_fixture.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace agentproxy::kube::testing {
namespace {

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string trim(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return text;
}

// A folder name under /tmp that does not exist yet: cluster.sh up creates it.
std::filesystem::path newClusterDir() {
  static int count = 0;
  return std::filesystem::temp_directory_path() /
         ("agentproxy-cluster-test-" + std::to_string(::getpid()) + "-" + std::to_string(count++));
}

}  // namespace

ClusterProcess::ClusterProcess(const std::vector<std::string>& apiserverArgs)
    : dir_(newClusterDir()) {
  std::string extra;
  for (const auto& a : apiserverArgs) extra += (extra.empty() ? "" : " ") + a;
  agentproxy::testing::ProcessSpec spec;
  spec.argv = {CLUSTER_SCRIPT, "up", dir_.string(), "--owner", std::to_string(::getpid())};
  spec.extraEnv = {{"CLUSTER_APISERVER_ARGS", extra}};
  auto log = std::filesystem::temp_directory_path() /
             ("agentproxy-cluster-up-" + std::to_string(::getpid()) + ".log");
  std::filesystem::remove(log);
  spec.logFile = log;
  int code = agentproxy::testing::runToCompletion(spec, std::chrono::minutes(10));
  std::string output = agentproxy::testing::fileTail(log, 4000);
  std::filesystem::remove(log);
  if (code != 0) throw std::runtime_error("scripts/cluster.sh up failed:\n" + output);
  bin_ = trim(readFile(dir_ / "bin"));
  std::istringstream ports(readFile(dir_ / "ports.env"));
  for (std::string line; std::getline(ports, line);) {
    if (line.rfind("APISERVER_PORT=", 0) == 0) url_ = "https://127.0.0.1:" + line.substr(15);
  }
  if (url_.empty()) throw std::runtime_error("cluster.sh wrote no APISERVER_PORT");
}

ClusterProcess::~ClusterProcess() {
  try {
    script({"down", dir_.string()}, std::chrono::seconds(120));
  } catch (const std::exception&) {
    // The watchdog stops what is left when this process exits.
  }
}

std::string ClusterProcess::script(const std::vector<std::string>& args,
                                   std::chrono::seconds timeout) {
  agentproxy::testing::ProcessSpec spec;
  spec.argv = {CLUSTER_SCRIPT};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  auto log = std::filesystem::temp_directory_path() /
             ("agentproxy-cluster-cmd-" + std::to_string(::getpid()) + ".log");
  std::filesystem::remove(log);
  spec.logFile = log;
  int code = agentproxy::testing::runToCompletion(spec, timeout);
  std::string output = readFile(log);
  std::filesystem::remove(log);
  if (code != 0) {
    throw std::runtime_error("cluster.sh " + args.front() + " failed:\n" + output);
  }
  return output;
}

std::string ClusterProcess::kubectl(const std::vector<std::string>& args) {
  agentproxy::testing::ProcessSpec spec;
  spec.argv = {(bin_ / "kubectl").string(), "--kubeconfig", kubeconfig().string()};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  auto log = dir_ / ("kubectl-" + std::to_string(::getpid()) + ".out");
  std::filesystem::remove(log);
  spec.logFile = log;
  spec.extraEnv = {{"HOME", dir_.string()}};
  int code = agentproxy::testing::runToCompletion(spec, std::chrono::seconds(60));
  std::string output = readFile(log);
  std::filesystem::remove(log);
  if (code != 0) throw std::runtime_error("kubectl " + args.front() + " failed:\n" + output);
  return output;
}

Config ClusterProcess::tokenConfig(const std::string& token, const std::string& server) const {
  Config config;
  config.server = server.empty() ? url_ : server;
  config.caPem = readFile(caFile());
  config.bearerToken = token;
  config.source = "test token";
  return config;
}

std::string ClusterProcess::serviceAccountToken(const std::string& ns, const std::string& name,
                                                const std::string& clusterRole) {
  kubectl({"-n", ns, "create", "serviceaccount", name});
  if (!clusterRole.empty()) {
    kubectl({"create", "clusterrolebinding", ns + "-" + name, "--clusterrole=" + clusterRole,
             "--serviceaccount=" + ns + ":" + name});
  }
  return trim(kubectl({"-n", ns, "create", "token", name, "--duration=24h"}));
}

void ClusterProcess::restart(const std::string& component) {
  script({"restart", component, dir_.string()}, std::chrono::seconds(180));
}
void ClusterProcess::stop(const std::string& component) {
  script({"stop", component, dir_.string()}, std::chrono::seconds(60));
}
void ClusterProcess::start(const std::string& component) {
  script({"start", component, dir_.string()}, std::chrono::seconds(180));
}
void ClusterProcess::compact() { script({"compact", dir_.string()}, std::chrono::seconds(60)); }

std::vector<nlohmann::json> ClusterProcess::auditEvents(const std::string& username) const {
  std::vector<nlohmann::json> events;
  std::ifstream in(dir_ / "audit.log");
  for (std::string line; std::getline(in, line);) {
    auto event = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (event.is_discarded() || event.value("stage", "") != "ResponseComplete") continue;
    if (event["user"].value("username", "") == username) events.push_back(std::move(event));
  }
  return events;
}

FaultRelay::FaultRelay(const ClusterProcess& cluster) : caFile_(cluster.caFile()) {
  dir_ = std::make_unique<agentproxy::testing::TempDir>("fault-relay");
  auto ready = dir_->path() / "ready.json";
  agentproxy::testing::ProcessSpec spec;
  spec.argv = {"/usr/bin/python3", FAULT_RELAY_SCRIPT, "--upstream", cluster.url(), "--ca",
               cluster.caFile().string(), "--cert", (cluster.dir() / "pki/apiserver.crt").string(),
               "--key", (cluster.dir() / "pki/apiserver.key").string(), "--ready-file",
               ready.string()};
  spec.logFile = dir_->path() / "relay.log";
  process_ = std::make_unique<agentproxy::testing::ChildProcess>(spec);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!std::filesystem::exists(ready)) {
    if (!process_->running() || std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("the fault relay did not start:\n" + process_->logTail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  port_ = nlohmann::json::parse(readFile(ready)).at("port").get<uint16_t>();
  url_ = "https://127.0.0.1:" + std::to_string(port_);
}

FaultRelay::~FaultRelay() {
  if (process_) process_->stop(std::chrono::milliseconds(2000));
}

nlohmann::json FaultRelay::faults(const nlohmann::json& spec) {
  // The relay's own endpoint; curl keeps this fixture free of the client under test.
  auto out = dir_->path() / "faults.out";
  agentproxy::testing::ProcessSpec curl;
  curl.argv = {"curl", "-sS", "--cacert", caFile_.string(), "-X", "POST", "--data", spec.dump(),
               url_ + "/_relay/faults"};
  std::filesystem::remove(out);
  curl.logFile = out;
  if (agentproxy::testing::runToCompletion(curl, std::chrono::seconds(20)) != 0) {
    throw std::runtime_error("the fault relay refused " + spec.dump() + ": " + readFile(out));
  }
  return nlohmann::json::parse(readFile(out));
}

}  // namespace agentproxy::kube::testing
