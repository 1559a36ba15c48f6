#include "apiserver_fixture.h"

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace agentproxy::kube::testing {

ApiServerProcess::ApiServerProcess(double bookmarkIntervalSeconds) {
  dir_ = std::make_unique<agentproxy::testing::TempDir>("kube-apiserver");
  agentproxy::testing::ProcessSpec spec;
  spec.argv = {"/usr/bin/python3",
               KUBE_APISERVER_SCRIPT,
               "--dir",
               (dir_->path() / "srv").string(),
               "--bookmark-interval",
               std::to_string(bookmarkIntervalSeconds)};
  spec.logFile = dir_->path() / "apiserver.log";
  process_ = std::make_unique<agentproxy::testing::ChildProcess>(spec);
  auto ready = dir_->path() / "srv" / "ready.json";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!std::filesystem::exists(ready)) {
    if (!process_->running()) {
      throw std::runtime_error("kube_apiserver.py exited before it was ready:\n" +
                               process_->logTail());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("kube_apiserver.py not ready after 30 s:\n" + process_->logTail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::ifstream in(ready);
  nlohmann::json info = nlohmann::json::parse(in);
  url_ = info.at("url").get<std::string>();
  token_ = info.at("token").get<std::string>();
  port_ = info.at("port").get<uint16_t>();
  admin_ = std::make_unique<Client>(loadKubeconfig(dir_->path() / "srv" / "kubeconfig"));
}

ApiServerProcess::~ApiServerProcess() {
  admin_.reset();
  if (process_) process_->stop(std::chrono::milliseconds(2000));
}

nlohmann::json ApiServerProcess::faults(const nlohmann::json& spec) {
  return admin_->request("POST", "/_test/faults", &spec);
}

nlohmann::json ApiServerProcess::requests() { return admin_->request("GET", "/_test/requests"); }

void ApiServerProcess::resetRequests() { admin_->request("DELETE", "/_test/requests"); }

}  // namespace agentproxy::kube::testing
