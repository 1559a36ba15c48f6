#include "probe/report.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "probe/classify.h"

namespace agentproxy::probe {
namespace {

TEST(ReportJson, HasTheShapeOfDesignMd) {
  ProbeReport report;
  report.proxy = "http://***@proxy.corp:3128";
  TargetReport t;
  t.address = "api.mgmt.example.com:443";
  t.tunnel = TunnelState::Established;
  t.tlsHandshakeDone = true;
  t.tlsIntercepted = true;
  t.interceptorTrusted = true;
  t.interceptorIssuer = "CN=Squid CA";
  t.proxyServer = "squid/5.7";
  t.alpn = "";
  t.grpc = "UNAVAILABLE: Cannot check peer: missing selected ALPN property.";
  t.websocketFallback = WebSocketState::Available;
  t.timings.connectMs = 1;
  t.timings.tunnelMs = 2;
  t.timings.tlsMs = 3;
  t.timings.grpcMs = 4;
  t.lastProbeTime = "2026-11-27T10:00:00Z";
  report.targets.push_back(t);
  classifyReport(report, "proxy.corp:3128");

  auto j = nlohmann::json::parse(toJson(report));
  EXPECT_EQ(j["proxy"], "http://***@proxy.corp:3128");
  EXPECT_EQ(j["proxyServer"], "squid/5.7");
  EXPECT_EQ(j["classification"], "Unsupported");
  ASSERT_EQ(j["targets"].size(), 1u);
  const auto& target = j["targets"][0];
  EXPECT_EQ(target["address"], "api.mgmt.example.com:443");
  EXPECT_EQ(target["classification"], "Unsupported");
  EXPECT_EQ(target["tunnel"], "Established");
  EXPECT_EQ(target["tlsIntercepted"], true);
  EXPECT_EQ(target["interceptorIssuer"], "CN=Squid CA");
  EXPECT_EQ(target["alpn"], "");
  EXPECT_EQ(target["websocketFallback"], "Available");
  EXPECT_EQ(target["timings"]["connectMs"], 1);
  EXPECT_EQ(target["timings"]["grpcMs"], 4);
  EXPECT_EQ(target["lastProbeTime"], "2026-11-27T10:00:00Z");
  EXPECT_NE(target["message"].get<std::string>().find("ssl_bump splice"), std::string::npos);
}

TEST(ReportJson, SurvivesInvalidUtf8FromAProxy) {
  ProbeReport report;
  TargetReport t;
  t.address = "a:1";
  t.proxyServer = "bad\xff\xfe";
  report.targets.push_back(t);
  classifyReport(report, "p:1");
  EXPECT_NO_THROW(nlohmann::json::parse(toJson(report)));
}

TEST(ReportText, ShowsClassificationCauseAndRemedyPerTarget) {
  ProbeReport report;
  report.proxy = "http://proxy.corp:3128";
  TargetReport t;
  t.address = "a.example:443";
  t.tunnel = TunnelState::Refused;
  t.connectStatus = 403;
  t.connectReason = "Forbidden";
  report.targets.push_back(t);
  classifyReport(report, "proxy.corp:3128");
  auto text = toText(report);
  EXPECT_NE(text.find("proxy http://proxy.corp:3128: Unsupported"), std::string::npos) << text;
  EXPECT_NE(text.find("Unsupported  a.example:443"), std::string::npos) << text;
  EXPECT_NE(text.find("tunnel Refused"), std::string::npos) << text;
  EXPECT_NE(text.find("refused CONNECT"), std::string::npos) << text;
}

}  // namespace
}  // namespace agentproxy::probe
