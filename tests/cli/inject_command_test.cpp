// `agentproxy inject`: the webhook's mutation of a pod file, with the copies' files, as
// tests/agents (injection.py _cli_injection) reads them.
#include "cli/inject_command.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace agentproxy::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class InjectCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("agentproxy-inject-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }

  int run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    return runInjectCommand(args, out_, err_);
  }

  fs::path dir_;
  std::ostringstream out_, err_;
};

const char* kPolicy = R"({"apiVersion": "agentproxy.io/v1alpha1", "kind": "ProxyPolicy",
  "metadata": {"name": "corp"},
  "spec": {"proxy": {"httpsProxy": "http://proxy.corp:3128", "noProxy": ["*.Corp.Example"],
                     "credentialsSecretRef": {"namespace": "agentproxy-system", "name": "auth"}},
           "agentRuntimes": ["jvm", "node"],
           "targets": [{"address": "mgmt.example:443"}]}})";
const char* kPod = R"({"apiVersion": "v1", "kind": "Pod",
  "metadata": {"name": "agent", "namespace": "agents"},
  "spec": {"containers": [{"name": "agent", "image": "agent:1",
                           "env": [{"name": "JAVA_TOOL_OPTIONS", "value": "-Xmx64m"}]}]}})";

TEST_F(InjectCommandTest, PrintsTheStoredPodAndWritesTheCopiesFiles) {
  auto policy = write("policy.json", kPolicy);
  auto pod = write("pod.json", kPod);
  auto secret = write("secret.json", R"({"stringData": {"username": "agent", "password": "p@ss"}})");
  ASSERT_EQ(run({"--policy", policy, "--pod", pod, "--credentials", secret, "--secret-dir",
                 (dir_ / "secret").string(), "--ca-dir", (dir_ / "ca").string(),
                 "--service-cidr", "10.96.0.0/12"}),
            0)
      << err_.str();
  auto stored = json::parse(out_.str());
  std::map<std::string, json> env;
  for (const auto& e : stored["spec"]["containers"][0]["env"]) env[e["name"]] = e;
  EXPECT_EQ(env["NODE_USE_ENV_PROXY"]["value"], "1");
  EXPECT_EQ(env["NO_PROXY"]["value"],
            "localhost,127.0.0.1,169.254.169.254,.svc,.cluster.local,10.96.0.0/12,.corp.example");
  auto java = env["JAVA_TOOL_OPTIONS"]["value"].get<std::string>();
  EXPECT_EQ(java.rfind("-Xmx64m -Dhttps.proxyHost=proxy.corp -Dhttps.proxyPort=3128", 0), 0u)
      << java;
  EXPECT_NE(java.find("|*.corp.example "), std::string::npos) << java;
  EXPECT_TRUE(fs::exists(dir_ / "ca" / "ca-bundle.crt"));
  EXPECT_GT(fs::file_size(dir_ / "ca" / "ca-bundle.p12"), 1000u);
  std::ifstream password(dir_ / "secret" / "password");
  std::string text((std::istreambuf_iterator<char>(password)), {});
  EXPECT_EQ(text, "p%40ss") << "percent-encoded, as the Secret copy holds it";
  EXPECT_EQ(out_.str().find("p@ss"), std::string::npos);
}

TEST_F(InjectCommandTest, BadInputIsAOneLineUsageError) {
  EXPECT_EQ(run({"--pod", write("pod.json", kPod)}), 64);
  EXPECT_EQ(err_.str(), "agentproxy inject: --policy is required\n");
  EXPECT_EQ(run({"--policy", write("policy.json", kPolicy), "--pod", write("pod.json", kPod)}),
            64);
  EXPECT_NE(err_.str().find("--credentials"), std::string::npos) << err_.str();
  EXPECT_EQ(run({"--policy", write("bad.json", "{"), "--pod", write("pod.json", kPod)}), 64);
  EXPECT_NE(err_.str().find("is not JSON"), std::string::npos) << err_.str();
}

TEST_F(InjectCommandTest, HelpNamesTheFlagsTheHarnessUses) {
  EXPECT_EQ(run({"--help"}), 0);
  for (const char* flag : {"--policy", "--pod", "--trust-ca", "--system-cas", "--credentials",
                           "--secret-dir", "--ca-dir", "--output"}) {
    EXPECT_NE(out_.str().find(flag), std::string::npos) << flag;
  }
}

}  // namespace
}  // namespace agentproxy::cli
