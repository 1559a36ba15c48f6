// probe::runtimeVerdict: every cell of docs/runtimes.md's measured matrix comes out of it, from
// the facts the probe reports through each proxy of the lab; and the rules one at a time.
#include "probe/runtime_verdict.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "probe/classify.h"

namespace agentproxy::probe {
namespace {

using ::testing::HasSubstr;

// What the probe reports through each proxy mode of tests/agents (matrix_test.py proxy_modes),
// as the real probe reported it there.
struct Mode {
  TargetReport target;
  RuntimeContext context;
};

TargetReport tunnel(bool intercepted, bool trusted, std::string alpn, bool grpcWorks,
                    std::string server = "") {
  TargetReport t;
  t.address = "mgmt.test:8443";
  t.tunnel = TunnelState::Established;
  t.tlsHandshakeDone = true;
  t.tlsIntercepted = intercepted;
  t.interceptorTrusted = trusted;
  t.interceptorIssuer = intercepted ? "CN=Interceptor CA" : "";
  t.alpn = std::move(alpn);
  t.grpcWorks = grpcWorks;
  t.grpc = grpcWorks ? "OK" : "UNAVAILABLE: Cannot check peer: missing selected ALPN property";
  t.proxyServer = std::move(server);
  auto v = classify(t, "proxy.lab:3128");
  t.classification = v.classification;
  t.reason = v.reason;
  t.message = v.message;
  return t;
}

RuntimeContext context() {
  RuntimeContext c;
  c.runtimes.assign(std::begin(kAllRuntimes), std::end(kAllRuntimes));
  c.counted = true;
  c.noProxy = {"localhost", "127.0.0.1", "169.254.169.254", ".svc", ".cluster.local",
               "10.96.0.0/12", "10.244.0.0/16"};
  return c;
}

std::map<std::string, Mode> modes() {
  std::map<std::string, Mode> m;
  m["tinyproxy"] = {tunnel(false, false, "h2", true), context()};
  m["squid"] = {tunnel(false, false, "h2", true), context()};
  m["squid-auth"] = {tunnel(false, false, "h2", true), context()};
  m["squid-auth"].context.credentials = true;
  m["squid-auth-reserved"] = m["squid-auth"];
  m["squid-auth-reserved"].context.credentialsWithAtSign = true;
  m["squid-bump"] = {tunnel(true, true, "", false, "squid/5.7"), context()};
  m["squid-splice"] = {tunnel(false, false, "h2", true), context()};
  m["mitm-trusted"] = {tunnel(true, true, "h2", true), context()};
  m["mitm-untrusted"] = {tunnel(true, false, "h2", false), context()};
  m["https-proxy"] = {tunnel(false, false, "h2", true), context()};
  m["https-proxy"].context.httpsProxy = m["https-proxy"].context.grpcProxyHttps = true;
  return m;
}

// {mode, column} -> "works" | "fails" from the page's measured table; the dotnet column
// reads "(works: predicted only)".
std::map<std::pair<std::string, std::string>, std::string> documentedMatrix() {
  std::ifstream in(AGENTPROXY_RUNTIMES_DOC);
  std::stringstream text;
  text << in.rdbuf();
  std::string page = text.str();
  auto begin = page.find("<!-- measured:begin -->");
  auto end = page.find("<!-- measured:end -->");
  std::map<std::pair<std::string, std::string>, std::string> out;
  if (begin == std::string::npos || end == std::string::npos) return out;
  std::istringstream table(page.substr(begin, end - begin));
  std::vector<std::string> header;
  for (std::string line; std::getline(table, line);) {
    if (line.rfind("|", 0) != 0 || line.rfind("|---", 0) == 0) continue;
    std::vector<std::string> cells;
    std::stringstream row(line.substr(1));
    for (std::string cell; std::getline(row, cell, '|');) {
      cell.erase(0, cell.find_first_not_of(' '));
      cell.erase(cell.find_last_not_of(' ') + 1);
      cells.push_back(cell);
    }
    if (header.empty()) {
      header = cells;
      continue;
    }
    std::smatch key;
    if (!std::regex_search(cells[0], key, std::regex("`([^`]+)`"))) continue;
    for (size_t i = 1; i < cells.size() && i < header.size(); ++i) {
      std::string column = header[i];
      column.erase(std::remove(column.begin(), column.end(), '`'), column.end());
      std::smatch word;
      if (std::regex_search(cells[i], word, std::regex("(works|fails)"))) {
        out[{key[1], column}] = word[1];
      }
    }
  }
  return out;
}

TEST(RuntimeMatrix, EveryDocumentedCellIsTheVerdictsPrediction) {
  const std::map<std::string, std::string> runtimeOf = {{"cpp", "grpc-core"},
                                                        {"python", "grpc-core"},
                                                        {"go", "go"},
                                                        {"jvm", "jvm"},
                                                        {"node", "node"},
                                                        {"dotnet", "dotnet"}};
  auto doc = documentedMatrix();
  ASSERT_FALSE(doc.empty()) << "docs/runtimes.md has no measured table";
  int compared = 0;
  auto all = modes();
  for (const auto& [cell, word] : doc) {
    const auto& [mode, column] = cell;
    if (mode == "none") continue;  // no injection: no verdict to compare
    ASSERT_TRUE(all.count(mode)) << "docs/runtimes.md has a proxy mode this test does not model: "
                                 << mode;
    ASSERT_TRUE(runtimeOf.count(column)) << column;
    auto v = runtimeVerdict(runtimeOf.at(column), all[mode].target, all[mode].context);
    std::string predicted = v.result == Classification::Unsupported ||
                                    v.result == Classification::Unknown
                                ? "fails"
                                : "works";
    EXPECT_EQ(predicted, word) << mode << " / " << column << ": " << v.reason << ": "
                               << v.message;
    ++compared;
  }
  EXPECT_EQ(compared, 9 * 6);
}

TEST(RuntimeVerdict, ReasonsNameTheCause) {
  auto all = modes();
  auto reason = [&](const char* mode, const char* runtime) {
    return runtimeVerdict(runtime, all[mode].target, all[mode].context).reason;
  };
  EXPECT_EQ(reason("tinyproxy", "jvm"), "TunnelEndToEnd");
  EXPECT_EQ(reason("squid-auth", "jvm"), "ProxyCredentialsUnsupported");
  EXPECT_EQ(reason("squid-auth", "grpc-core"), "TunnelEndToEnd");
  EXPECT_EQ(reason("squid-auth-reserved", "grpc-core"), "ProxyCredentialsWithAtSign");
  EXPECT_EQ(reason("squid-auth-reserved", "node"), "TunnelEndToEnd");
  EXPECT_EQ(reason("squid-bump", "go"), "InterceptedWithoutHTTP2");
  EXPECT_EQ(reason("mitm-untrusted", "node"), "UntrustedInterceptor");
  EXPECT_EQ(reason("mitm-trusted", "jvm"), "InterceptedWithHTTP2");
  for (const char* r : {"grpc-core", "go", "jvm", "node"}) {
    EXPECT_EQ(reason("https-proxy", r), "HTTPSProxyUnsupported") << r;
  }
  EXPECT_EQ(reason("https-proxy", "dotnet"), "TunnelEndToEnd");
}

TEST(RuntimeVerdict, TargetInNoProxyByEachRuntimesOwnMatching) {
  auto t = tunnel(false, false, "h2", true);
  auto c = context();
  auto reason = [&](const char* runtime) { return runtimeVerdict(runtime, t, c).reason; };
  c.noProxy.push_back(".test");  // every runtime but the JVM (which gets *.test) matches
  for (const char* r : {"grpc-core", "go", "jvm", "node", "dotnet"}) {
    EXPECT_EQ(reason(r), "TargetInNoProxy") << r;
  }
  c = context();
  c.noProxy.push_back("test");  // a plain suffix for C-core and grpc-js; Go: the domain
  EXPECT_EQ(reason("grpc-core"), "TargetInNoProxy");
  EXPECT_EQ(reason("go"), "TargetInNoProxy");
  EXPECT_EQ(reason("node"), "TargetInNoProxy");
  EXPECT_EQ(reason("jvm"), "TunnelEndToEnd");  // whole names only
  c = context();
  c.noProxy.push_back("mgmt.test:8443");  // ports: Go only
  EXPECT_EQ(reason("go"), "TargetInNoProxy");
  EXPECT_EQ(reason("grpc-core"), "TunnelEndToEnd");
  EXPECT_EQ(reason("node"), "TunnelEndToEnd");
  c = context();
  c.noProxy.push_back("*");
  EXPECT_EQ(reason("go"), "TargetInNoProxy");
  EXPECT_EQ(reason("jvm"), "TargetInNoProxy");
  EXPECT_EQ(reason("grpc-core"), "TunnelEndToEnd");
}

TEST(RuntimeVerdict, CidrRangesForAnIpTarget) {
  auto t = tunnel(false, false, "h2", true);
  t.address = "198.18.20.2:8443";
  auto c = context();
  c.noProxy.push_back("198.18.20.0/24");
  EXPECT_EQ(runtimeVerdict("go", t, c).reason, "TargetInNoProxy");
  EXPECT_EQ(runtimeVerdict("node", t, c).reason, "TargetInNoProxy");
  auto core = runtimeVerdict("grpc-core", t, c);
  EXPECT_EQ(core.reason, "CIDRNoProxyIgnored");
  EXPECT_EQ(core.result, Classification::Warn);
  EXPECT_THAT(core.message, HasSubstr("198.18.20.0/24"));
  EXPECT_EQ(runtimeVerdict("jvm", t, c).reason, "CIDRNoProxyIgnored");
}

TEST(ApplyRuntimeVerdicts, UnnamedRuntimesWarnAndLeaveTheClassificationAlone) {
  ProbeReport report;
  report.targets = {modes()["squid-auth"].target};
  report.classification = Classification::Supported;
  auto c = modes()["squid-auth"].context;
  c.runtimes.clear();
  c.counted = false;
  applyRuntimeVerdicts(report, c);
  EXPECT_EQ(report.classification, Classification::Supported);
  ASSERT_EQ(report.targets[0].runtimes.size(), 5u);
  ASSERT_EQ(report.warnings.size(), 1u);
  EXPECT_THAT(report.warnings[0], HasSubstr("jvm"));
  EXPECT_THAT(report.warnings[0], HasSubstr("ProxyCredentialsUnsupported"));
}

TEST(ApplyRuntimeVerdicts, NamedRuntimesCountSomeFailWarnAllFailUnsupported) {
  auto mode = modes()["squid-auth"];
  ProbeReport some;
  some.targets = {mode.target};
  mode.context.runtimes = {"go", "jvm"};
  applyRuntimeVerdicts(some, mode.context);
  EXPECT_EQ(some.classification, Classification::Warn);
  EXPECT_EQ(some.targets[0].classification, Classification::Warn);
  EXPECT_THAT(some.targets[0].message, HasSubstr("jvm"));

  ProbeReport all;
  all.targets = {mode.target};
  mode.context.runtimes = {"jvm"};
  applyRuntimeVerdicts(all, mode.context);
  EXPECT_EQ(all.classification, Classification::Unsupported);
  EXPECT_EQ(all.targets[0].reason, "ProxyCredentialsUnsupported");

  ProbeReport fine;
  fine.targets = {mode.target};
  mode.context.runtimes = {"go"};
  applyRuntimeVerdicts(fine, mode.context);
  EXPECT_EQ(fine.classification, Classification::Supported);
}

}  // namespace
}  // namespace agentproxy::probe
