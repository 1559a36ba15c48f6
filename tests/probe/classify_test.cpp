// DESIGN.md's classification table, row by row, and the message each cause gets.
#include "probe/classify.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace agentproxy::probe {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kProxy = "proxy.corp:3128";

TargetReport established() {
  TargetReport t;
  t.address = "api.mgmt.example.com:443";
  t.serverName = "api.mgmt.example.com";
  t.tunnel = TunnelState::Established;
  t.connectStatus = 200;
  t.tlsHandshakeDone = true;
  t.alpn = "h2";
  t.grpc = "OK";
  t.grpcWorks = true;
  return t;
}

TEST(Classify, PlainTunnelIsSupported) {
  auto v = classify(established(), kProxy);
  EXPECT_EQ(v.reason, "TunnelEndToEnd");
  EXPECT_EQ(v.classification, Classification::Supported);
  EXPECT_THAT(v.message, HasSubstr("end-to-end CONNECT tunnel"));
}

TEST(Classify, TrustedInterceptionThatKeepsHttp2IsWarn) {
  auto t = established();
  t.tlsIntercepted = true;
  t.interceptorTrusted = true;
  t.interceptorIssuer = "CN=Corp Proxy CA";
  t.proxyServer = "mitmproxy";
  auto v = classify(t, kProxy);
  EXPECT_EQ(v.classification, Classification::Warn);
  EXPECT_EQ(v.reason, "InterceptedWithHTTP2");
  EXPECT_THAT(v.message, HasSubstr("CN=Corp Proxy CA"));
  EXPECT_THAT(v.message, HasSubstr("exempting api.mgmt.example.com from inspection"));
}

TEST(Classify, SquidBumpWithoutHttp2IsUnsupportedWithSpliceRemedy) {
  auto t = established();
  t.tlsIntercepted = true;
  t.interceptorTrusted = true;
  t.interceptorIssuer = "CN=Squid CA";
  t.proxyServer = "squid/5.7";
  t.alpn = "";
  t.grpc = "UNAVAILABLE: Cannot check peer: missing selected ALPN property.";
  t.grpcWorks = false;
  t.websocketFallback = WebSocketState::Available;
  auto v = classify(t, kProxy);
  EXPECT_EQ(v.classification, Classification::Unsupported);
  EXPECT_EQ(v.reason, "InterceptedWithoutHTTP2");
  EXPECT_THAT(v.message, HasSubstr("squid/5.7 intercepts TLS for api.mgmt.example.com"));
  EXPECT_THAT(v.message, HasSubstr("ssl_bump splice"));
  EXPECT_THAT(v.message, HasSubstr("ssl::server_name api.mgmt.example.com"));
  EXPECT_THAT(v.message, HasSubstr("WebSocket fallback (available)"));
}

TEST(Classify, SquidStrippingWebSocketNamesTheUpgradeDirective) {
  auto t = established();
  t.tlsIntercepted = true;
  t.interceptorTrusted = true;
  t.proxyServer = "squid/5.7";
  t.alpn = "http/1.1";
  t.grpcWorks = false;
  t.grpc = "UNAVAILABLE: x";
  t.websocketFallback = WebSocketState::Unavailable;
  t.websocketDetail = "400 Bad Request";
  auto v = classify(t, kProxy);
  EXPECT_EQ(v.classification, Classification::Unsupported);
  EXPECT_THAT(v.message, HasSubstr("offers only http/1.1"));
  EXPECT_THAT(v.message, HasSubstr("http_upgrade_request_protocols websocket allow all"));
}

TEST(Classify, OtherVendorWithoutHttp2GetsAnExemptionRemedy) {
  auto t = established();
  t.tlsIntercepted = true;
  t.interceptorTrusted = true;
  t.alpn = "http/1.1";
  t.grpcWorks = false;
  t.grpc = "UNAVAILABLE: x";
  auto v = classify(t, kProxy);
  EXPECT_EQ(v.classification, Classification::Unsupported);
  EXPECT_THAT(v.message, HasSubstr("Exempt api.mgmt.example.com from TLS inspection"));
  EXPECT_THAT(v.message, Not(HasSubstr("ssl_bump")));
  EXPECT_THAT(v.message, HasSubstr("not probed"));
}

TEST(Classify, UntrustedInterceptorIsUnsupportedAndNamesTheCa) {
  auto t = established();
  t.tlsIntercepted = true;
  t.interceptorTrusted = false;
  t.interceptorIssuer = "CN=Corp Proxy CA";
  t.grpcWorks = false;
  auto v = classify(t, kProxy);
  EXPECT_EQ(v.classification, Classification::Unsupported);
  EXPECT_EQ(v.reason, "UntrustedInterceptor");
  EXPECT_THAT(v.message, HasSubstr("\"CN=Corp Proxy CA\", which the pods do not trust"));
  EXPECT_THAT(v.message, HasSubstr("trust.caBundles"));
}

TEST(Classify, ConnectRefusedNamesStatusAndSquidAcl) {
  TargetReport t;
  t.address = "api.mgmt.example.com:8443";
  t.tunnel = TunnelState::Refused;
  t.connectStatus = 403;
  t.connectReason = "Forbidden";
  t.squidError = "ERR_ACCESS_DENIED 0";
  t.proxyServer = "squid/5.7";
  auto v = classify(t, kProxy);
  EXPECT_EQ(v.classification, Classification::Unsupported);
  EXPECT_EQ(v.reason, "ConnectRefused");
  EXPECT_THAT(v.message, HasSubstr("refused CONNECT to api.mgmt.example.com:8443"));
  EXPECT_THAT(v.message, HasSubstr("403 Forbidden, X-Squid-Error: ERR_ACCESS_DENIED 0"));
  EXPECT_THAT(v.message, HasSubstr("SSL_ports"));
}

TEST(Classify, AuthRequiredSaysWhetherCredentialsWereGiven) {
  TargetReport t;
  t.address = "a:443";
  t.tunnel = TunnelState::AuthRequired;
  t.connectStatus = 407;
  t.connectReason = "Proxy Authentication Required";
  t.failure = "no credentials were given";
  auto v = classify(t, kProxy);
  EXPECT_EQ(v.classification, Classification::Unsupported);
  EXPECT_EQ(v.reason, "AuthenticationRequired");
  EXPECT_THAT(v.message, HasSubstr("requires authentication"));
  EXPECT_THAT(v.message, HasSubstr("no credentials were given"));
  EXPECT_THAT(v.message, HasSubstr("credentialsSecretRef"));
}

TEST(Classify, TargetUnreachableProxyUnreachableAndTimeout) {
  TargetReport t;
  t.address = "a:443";
  t.tunnel = TunnelState::TargetUnreachable;
  t.connectStatus = 503;
  t.connectReason = "Service Unavailable";
  EXPECT_THAT(classify(t, kProxy).message, HasSubstr("could not reach a:443 (503"));

  t = {};
  t.address = "a:443";
  t.tunnel = TunnelState::ProxyUnreachable;
  t.failure = "cannot connect to proxy.corp:3128: Connection refused";
  auto v = classify(t, kProxy);
  EXPECT_EQ(v.classification, Classification::Unsupported);
  EXPECT_THAT(v.message, HasSubstr("Cannot reach the proxy proxy.corp:3128"));
  EXPECT_THAT(v.message, HasSubstr("Connection refused"));

  t = {};
  t.address = "a:443";
  t.tunnel = TunnelState::Timeout;
  t.failedStep = ProbeStep::Connect;
  v = classify(t, kProxy);
  EXPECT_EQ(v.classification, Classification::Unsupported);
  EXPECT_THAT(v.message, HasSubstr("timed out waiting for the proxy's answer to CONNECT"));
}

TEST(Classify, FailedHandshakeInsideTheTunnel) {
  auto t = established();
  t.tlsHandshakeDone = false;
  t.failure = "TLS handshake failed: wrong version number";
  auto v = classify(t, kProxy);
  EXPECT_EQ(v.classification, Classification::Unsupported);
  EXPECT_EQ(v.reason, "TLSHandshakeFailed");
  EXPECT_THAT(v.message, HasSubstr("TLS handshake with api.mgmt.example.com failed"));
}

TEST(Classify, EndToEndButNotGrpc) {
  auto t = established();
  t.alpn = "http/1.1";
  t.grpcWorks = false;
  t.grpc = "UNAVAILABLE: failed to connect";
  auto v = classify(t, kProxy);
  EXPECT_EQ(v.classification, Classification::Unsupported);
  EXPECT_EQ(v.reason, "NoHTTP2");
  EXPECT_THAT(v.message, HasSubstr("selects http/1.1, not h2"));
}

TEST(ClassifyReport, WorstTargetWinsAndFirstFingerprintIsKept) {
  ProbeReport report;
  report.targets.push_back(established());
  auto refused = TargetReport{};
  refused.address = "b:443";
  refused.tunnel = TunnelState::Refused;
  refused.connectStatus = 403;
  refused.proxyServer = "squid/5.7";
  report.targets.push_back(refused);
  classifyReport(report, kProxy);
  EXPECT_EQ(report.classification, Classification::Unsupported);
  EXPECT_EQ(report.proxyServer, "squid/5.7");
  EXPECT_EQ(report.targets[0].classification, Classification::Supported);
  EXPECT_FALSE(report.targets[1].message.empty());
  EXPECT_EQ(exitCodeFor(report.classification), 2);
  EXPECT_EQ(exitCodeFor(Classification::Warn), 1);
  EXPECT_EQ(exitCodeFor(Classification::Supported), 0);
}

TEST(Classify, AValidChainForAnotherNameIsANameMismatch) {
  auto t = established();
  t.tlsIntercepted = true;
  t.certificateForOtherName = true;
  t.certificateProblem = "the certificate is for www.example.com, not api.mgmt.example.com";
  t.interceptorIssuer = "CN=Public CA";
  t.grpcWorks = false;
  t.grpc = "UNAVAILABLE: Peer name api.mgmt.example.com is not in peer certificate";
  auto v = classify(t, kProxy);
  EXPECT_EQ(v.classification, Classification::Unsupported);
  EXPECT_EQ(v.reason, "CertificateNameMismatch");
  EXPECT_THAT(v.message, HasSubstr("not api.mgmt.example.com"));
  EXPECT_THAT(v.message, HasSubstr("serverName"));
}

TEST(Classify, GrpcCodesAreExplainedNotOnlyNamed) {
  auto t = established();
  t.grpcWorks = false;
  t.grpc = "UNAVAILABLE: failed to connect to all addresses";
  auto v = classify(t, kProxy);
  EXPECT_EQ(v.reason, "GRPCCallFailed");
  EXPECT_THAT(v.message, HasSubstr("could not connect to the server, or lost the connection "
                                   "(UNAVAILABLE: failed to connect to all addresses)"));
  t.grpc = "DEADLINE_EXCEEDED: Deadline Exceeded";
  EXPECT_THAT(classify(t, kProxy).message, HasSubstr("did not finish before the probe's deadline"));
  t.grpc = "INTERNAL: Received RST_STREAM with error code 2";
  EXPECT_THAT(classify(t, kProxy).message, HasSubstr("not gRPC over HTTP/2"));
}

}  // namespace
}  // namespace agentproxy::probe
