// Bad input to `agentproxy probe`: exit 64 with one line naming the bad value, never a crash.
#include "cli/probe_command.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace agentproxy::cli {
namespace {

struct Outcome {
  int code;
  std::string out, err;
};

Outcome run(std::vector<std::string> args) {
  std::ostringstream out, err;
  int code = runProbeCommand(args, out, err);
  return {code, out.str(), err.str()};
}

void expectUsageError(std::vector<std::string> args, const std::string& fragment) {
  auto o = run(args);
  EXPECT_EQ(o.code, kExitUsage) << o.err;
  EXPECT_TRUE(o.out.empty());
  EXPECT_NE(o.err.find(fragment), std::string::npos) << o.err;
  // One line: "agentproxy probe: <reason>\n".
  EXPECT_EQ(o.err.rfind("agentproxy probe: ", 0), 0u) << o.err;
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << o.err;
}

std::string writeTemp(const std::string& name, const std::string& text) {
  auto path = std::filesystem::temp_directory_path() /
              ("agentproxy-cli-test-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(path) << text;
  return path.string();
}

TEST(ProbeCommand, MalformedProxy) {
  expectUsageError({"--proxy", "http://", "--target", "a:443"}, "proxy URL has no host");
  expectUsageError({"--proxy", "http://proxy:99999", "--target", "a:443"}, "bad port \"99999\"");
  expectUsageError({"--proxy", "socks5://proxy:1080", "--target", "a:443"}, "\"socks5\"");
  expectUsageError({"--target", "a:443"}, "--proxy is required");
}

TEST(ProbeCommand, TargetWithoutPort) {
  expectUsageError({"--proxy", "http://p:3128", "--target", "api.example.com"},
                   "target \"api.example.com\" has no port");
  expectUsageError({"--proxy", "http://p:3128"}, "at least one --target");
}

TEST(ProbeCommand, BadFlagsAndValues) {
  expectUsageError({"--proxy", "http://p:3128", "--target", "a:1", "--timeout", "soon"},
                   "bad duration \"soon\"");
  expectUsageError({"--proxy", "http://p:3128", "--target", "a:1", "--output", "yaml"},
                   "--output must be text or json");
  expectUsageError({"--proxy", "http://p:3128", "--target", "a:1", "--bogus"},
                   "unknown flag \"--bogus\"");
  expectUsageError({"--proxy"}, "--proxy needs a value");
  expectUsageError({"--proxy", "http://p:3128", "--target", "a:1", "--websocket-path", "ws"},
                   "must be a path starting with /");
}

TEST(ProbeCommand, UnreadableOrNonPemCaFile) {
  expectUsageError({"--proxy", "http://p:3128", "--target", "a:1", "--trust-ca", "/nonexistent/ca.pem"},
                   "cannot read CA file /nonexistent/ca.pem");
  auto notPem = writeTemp("not.pem", "hello, I am not a certificate\n");
  expectUsageError({"--proxy", "http://p:3128", "--target", "a:1", "--target-ca", notPem},
                   "no PEM certificate found");
  auto broken = writeTemp("broken.pem",
                          "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n");
  expectUsageError({"--proxy", "http://p:3128", "--target", "a:1", "--trust-ca", broken},
                   "PEM block 1 (CERTIFICATE) is not an X.509 certificate");
  std::remove(notPem.c_str());
  std::remove(broken.c_str());
}

TEST(ProbeCommand, PasswordNeverInUsageErrors) {
  auto o = run({"--proxy", "http://user:hunter2@proxy:bad", "--target", "a:1"});
  EXPECT_EQ(o.code, kExitUsage);
  EXPECT_EQ(o.err.find("hunter2"), std::string::npos) << o.err;
}

TEST(ProbeCommand, FlagsParseIntoTheRequest) {
  bool json = false;
  auto request = parseProbeFlags({"--proxy=http://u:p@proxy:3128", "--target", "a.example:443",
                                  "--target", "[::1]:8443", "--server-name", "mgmt.example",
                                  "--websocket-path", "/v1/ws", "--timeout", "3s",
                                  "--output", "json"},
                                 json);
  EXPECT_TRUE(json);
  EXPECT_EQ(request.proxy.password, "p");
  EXPECT_EQ(request.timeout, std::chrono::milliseconds(3000));
  ASSERT_EQ(request.targets.size(), 2u);
  EXPECT_EQ(request.targets[1].address.host, "::1");
  EXPECT_EQ(request.targets[1].serverName, "mgmt.example");
  EXPECT_EQ(request.targets[0].websocketPath, "/v1/ws");
}

// ---- credentials outside the command line (ps and shell history show the command line) ----

ProbeEnvironment environment(std::map<std::string, std::string> vars) {
  return {[vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  }};
}

TEST(ProbeCredentials, TheProxyAndItsCredentialsComeFromHttpsProxy) {
  bool json = false;
  auto request = parseProbeFlags({"--target", "a.example:443"}, json,
                                 environment({{"HTTPS_PROXY", "http://agent:p%40ss@proxy:3128"},
                                              {"https_proxy", "http://other:1"}}));
  EXPECT_EQ(request.proxy.host, "proxy");
  EXPECT_EQ(request.proxy.username, "agent");
  EXPECT_EQ(request.proxy.password, "p@ss");
  auto lower = parseProbeFlags({"--target", "a.example:443"}, json,
                               environment({{"https_proxy", "http://u:pw@lower:8080"}}));
  EXPECT_EQ(lower.proxy.host, "lower");
  EXPECT_EQ(lower.proxy.password, "pw");
  // --proxy wins over the environment.
  auto flag = parseProbeFlags({"--proxy", "http://flag:3128", "--target", "a.example:443"}, json,
                              environment({{"HTTPS_PROXY", "http://env:3128"}}));
  EXPECT_EQ(flag.proxy.host, "flag");
}

TEST(ProbeCredentials, ABadHttpsProxyIsNamedWithoutThePassword) {
  bool json = false;
  try {
    parseProbeFlags({"--target", "a:443"}, json,
                    environment({{"HTTPS_PROXY", "http://agent:hunter2@proxy:99999"}}));
    FAIL() << "a bad HTTPS_PROXY must be a usage error";
  } catch (const probe::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("$HTTPS_PROXY"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
}

TEST(ProbeCredentials, FromAFileOfUsernameAndPasswordLines) {
  auto file = writeTemp("creds", "# proxy account\nusername=svc-agent\npassword=s3cr=t:@/x\n");
  bool json = false;
  std::vector<std::string> notices;
  auto request = parseProbeFlags({"--proxy", "http://proxy:3128", "--target", "a:443",
                                  "--proxy-credentials-file", file},
                                 json, environment({}), &notices);
  EXPECT_EQ(request.proxy.username, "svc-agent");
  EXPECT_EQ(request.proxy.password, "s3cr=t:@/x");
  EXPECT_TRUE(notices.empty());
  std::remove(file.c_str());
}

TEST(ProbeCredentials, FromADirectoryAsAMountedSecret) {
  auto dir = std::filesystem::temp_directory_path() /
             ("agentproxy-cli-test-secret-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "username") << "agent\n";
  std::ofstream(dir / "password") << "from-a-secret";
  bool json = false;
  auto request = parseProbeFlags({"--proxy", "http://proxy:3128", "--target", "a:443",
                                  "--proxy-credentials-file", dir.string()},
                                 json, environment({}));
  EXPECT_EQ(request.proxy.username, "agent");
  EXPECT_EQ(request.proxy.password, "from-a-secret");
  std::filesystem::remove_all(dir);
}

TEST(ProbeCredentials, BadCredentialFilesAreUsageErrorsThatNeverQuoteTheFile) {
  auto noPassword = writeTemp("nopass", "username=agent\n");
  expectUsageError({"--proxy", "http://p:3128", "--target", "a:1", "--proxy-credentials-file",
                    noPassword},
                   "needs a username= and a password= line");
  auto bare = writeTemp("bare", "agent:hunter2\n");
  auto o = run({"--proxy", "http://p:3128", "--target", "a:1", "--proxy-credentials-file", bare});
  EXPECT_EQ(o.code, kExitUsage);
  EXPECT_NE(o.err.find("line 1 is not username=... or password=..."), std::string::npos) << o.err;
  EXPECT_EQ(o.err.find("hunter2"), std::string::npos) << o.err;
  expectUsageError({"--proxy", "http://p:3128", "--target", "a:1", "--proxy-credentials-file",
                    "/nonexistent/creds"},
                   "cannot read --proxy-credentials-file /nonexistent/creds");
  auto good = writeTemp("good", "username=a\npassword=b\n");
  expectUsageError({"--proxy", "http://u:hunter2@p:3128", "--target", "a:1",
                    "--proxy-credentials-file", good},
                   "credentials are given twice");
  for (const auto& f : {noPassword, bare, good}) std::remove(f.c_str());
}

TEST(ProbeCredentials, APasswordOnTheCommandLineGetsANote) {
  bool json = false;
  std::vector<std::string> notices;
  parseProbeFlags({"--proxy", "http://u:hunter2@p:3128", "--target", "a:1"}, json,
                  environment({}), &notices);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_NE(notices[0].find("--proxy-credentials-file"), std::string::npos);
  EXPECT_EQ(notices[0].find("hunter2"), std::string::npos);
  notices.clear();
  parseProbeFlags({"--target", "a:1"}, json, environment({{"HTTPS_PROXY", "http://u:pw@p:3128"}}),
                  &notices);
  EXPECT_TRUE(notices.empty());
}

}  // namespace
}  // namespace agentproxy::cli
