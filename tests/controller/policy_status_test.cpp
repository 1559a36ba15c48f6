#include "controller/policy_status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controller/conditions.h"
#include "probe/classify.h"

namespace agentproxy::controller {
namespace {

using probe::TunnelState;
using ::testing::HasSubstr;

probe::TargetReport healthyTarget() {
  probe::TargetReport t;
  t.address = "api.mgmt.example.com:443";
  t.tunnel = TunnelState::Established;
  t.connectStatus = 200;
  t.tlsHandshakeDone = true;
  t.alpn = "h2";
  t.grpc = "OK";
  t.grpcWorks = true;
  t.lastProbeTime = "2026-11-27T10:00:00Z";
  return t;
}

probe::ProbeReport reportOf(std::vector<probe::TargetReport> targets) {
  probe::ProbeReport r;
  r.proxy = "http://proxy.corp:3128";
  r.targets = std::move(targets);
  probe::classifyReport(r, "proxy.corp:3128");
  return r;
}

const nlohmann::json& conditionOf(const nlohmann::json& status, const std::string& type) {
  for (const auto& c : status["conditions"]) {
    if (c["type"] == type) return c;
  }
  static const nlohmann::json kMissing;
  ADD_FAILURE() << "no condition " << type;
  return kMissing;
}

PolicyObservation observed(probe::ProbeReport report, int64_t generation = 1) {
  PolicyObservation o;
  o.generation = generation;
  o.probe = std::move(report);
  o.effectiveNoProxy = "localhost,127.0.0.1";
  return o;
}

TEST(DesiredStatus, PlainTunnelIsSupportedWithEveryConditionSet) {
  auto s = desiredStatus({}, observed(reportOf({healthyTarget()})), "t1");
  EXPECT_EQ(s["classification"], "Supported");
  EXPECT_EQ(s["observedGeneration"], 1);
  EXPECT_EQ(s["effectiveNoProxy"], "localhost,127.0.0.1");
  EXPECT_EQ(s["targets"][0]["tunnel"], "Established");
  EXPECT_EQ(conditionOf(s, "Ready")["status"], "True");
  EXPECT_EQ(conditionOf(s, "SpecValid")["status"], "True");
  EXPECT_EQ(conditionOf(s, "ProxyReachable")["status"], "True");
  EXPECT_EQ(conditionOf(s, "TLSIntercepted")["status"], "False");
  EXPECT_EQ(conditionOf(s, "TLSIntercepted")["reason"], "EndToEnd");
  EXPECT_EQ(conditionOf(s, "GRPCSupported")["status"], "True");
  for (const auto& c : s["conditions"]) {
    EXPECT_EQ(c["observedGeneration"], 1);
    EXPECT_EQ(c["lastTransitionTime"], "t1");
  }
}

TEST(DesiredStatus, RuntimesAreCompactForKubectlDescribe) {
  auto target = healthyTarget();
  target.runtimes = {{"go", probe::Classification::Supported, "TunnelEndToEnd", "fine"},
                     {"jvm", probe::Classification::Unsupported, "ProxyCredentialsUnsupported",
                      "The JVM takes proxy credentials only from code."}};
  auto s = desiredStatus({}, observed(reportOf({target})), "t1");
  const auto& t = s["targets"][0];
  EXPECT_EQ(t["runtimeSummary"], "go Supported, jvm Unsupported (ProxyCredentialsUnsupported)");
  EXPECT_FALSE(t["runtimes"][0].contains("message")) << "no message where the agents get through";
  EXPECT_EQ(t["runtimes"][1]["message"], "The JVM takes proxy credentials only from code.");
  EXPECT_EQ(t["runtimes"][1]["reason"], "ProxyCredentialsUnsupported");
}

TEST(DesiredStatus, SquidBumpIsUnsupportedWithTheRemedyInGrpcSupported) {
  auto t = healthyTarget();
  t.tlsIntercepted = true;
  t.interceptorTrusted = true;
  t.interceptorIssuer = "CN=Squid CA";
  t.proxyServer = "squid/5.7";
  t.alpn = "";
  t.grpc = "UNAVAILABLE: Cannot check peer: missing selected ALPN property.";
  t.grpcWorks = false;
  auto s = desiredStatus({}, observed(reportOf({t})), "t1");
  EXPECT_EQ(s["classification"], "Unsupported");
  EXPECT_EQ(s["proxyServer"], "squid/5.7");
  const auto& grpc = conditionOf(s, "GRPCSupported");
  EXPECT_EQ(grpc["status"], "False");
  EXPECT_EQ(grpc["reason"], "InterceptedWithoutHTTP2");
  EXPECT_THAT(grpc["message"].get<std::string>(), HasSubstr("ssl_bump splice"));
  EXPECT_EQ(conditionOf(s, "TLSIntercepted")["status"], "True");
  EXPECT_EQ(conditionOf(s, "Ready")["status"], "False");
  EXPECT_EQ(conditionOf(s, "Ready")["reason"], "InterceptedWithoutHTTP2");
}

TEST(DesiredStatus, UnreachableProxyAndUnknownInterception) {
  probe::TargetReport t;
  t.address = "a:443";
  t.tunnel = TunnelState::ProxyUnreachable;
  t.failure = "Connection refused";
  auto s = desiredStatus({}, observed(reportOf({t})), "t1");
  EXPECT_EQ(conditionOf(s, "ProxyReachable")["status"], "False");
  EXPECT_EQ(conditionOf(s, "ProxyReachable")["reason"], "ProxyUnreachable");
  EXPECT_EQ(conditionOf(s, "TLSIntercepted")["status"], "Unknown");
}

TEST(DesiredStatus, InvalidSpecIsNotProbedAndSaysWhy) {
  PolicyObservation o;
  o.generation = 2;
  o.specValid = false;
  o.specReason = "SecretNotFound";
  o.specMessage = "Secret agentproxy-system/proxy-auth does not exist.";
  auto s = desiredStatus({}, o, "t1");
  EXPECT_EQ(s["classification"], "Unknown");
  EXPECT_EQ(conditionOf(s, "SpecValid")["reason"], "SecretNotFound");
  EXPECT_EQ(conditionOf(s, "Ready")["status"], "False");
  EXPECT_EQ(conditionOf(s, "GRPCSupported")["status"], "Unknown");
}

TEST(DesiredStatus, SameObservationLaterChangesNothing) {
  auto o = observed(reportOf({healthyTarget()}));
  auto first = desiredStatus({}, o, "t1");
  first["injectedPods"] = 12;  // owned by the injection, carried over
  auto second = desiredStatus(first, o, "t2");
  EXPECT_EQ(first, second);  // nothing to write
  EXPECT_EQ(second["injectedPods"], 12);
}

TEST(DesiredStatus, TransitionTimesMoveOnlyForConditionsThatFlip) {
  auto s1 = desiredStatus({}, observed(reportOf({healthyTarget()})), "t1");
  auto bad = healthyTarget();
  bad.tunnel = TunnelState::Refused;
  bad.connectStatus = 403;
  bad.tlsHandshakeDone = false;
  bad.grpcWorks = false;
  auto s2 = desiredStatus(s1, observed(reportOf({bad}), 2), "t2");
  EXPECT_EQ(conditionOf(s2, "SpecValid")["lastTransitionTime"], "t1");
  EXPECT_EQ(conditionOf(s2, "ProxyReachable")["lastTransitionTime"], "t1");  // still answered
  EXPECT_EQ(conditionOf(s2, "GRPCSupported")["lastTransitionTime"], "t2");
  EXPECT_EQ(conditionOf(s2, "Ready")["lastTransitionTime"], "t2");
  EXPECT_EQ(conditionOf(s2, "Ready")["reason"], "ConnectRefused");
  EXPECT_EQ(classificationOf(s2), "Unsupported");
  EXPECT_EQ(classificationOf({}), "Unknown");
}

}  // namespace
}  // namespace agentproxy::controller
