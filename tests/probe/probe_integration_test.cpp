// The probe against real proxies and a real TLS gRPC server on 127.0.0.1 (the ProxyLab):
// every row of DESIGN.md's table, the failure modes, and the command line a user types.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "encoding/files.h"
#include "lab.h"
#include "probe/safe_text.h"
#include "proxies.h"
#include "probe/pem.h"
#include "probe/prober.h"

namespace agentproxy::probe {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::ProxyLab;

class ProbeThroughProxies : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { lab_ = new ProxyLab(); }
  static void TearDownTestSuite() {
    delete lab_;
    lab_ = nullptr;
  }

  static std::string targetCa() { return lab_->targetCa().certPem(); }

  // One target, the management plane's gRPC server, with its own CA as the target roots.
  static ProbeRequest request(const std::string& proxyUrl, const std::string& address,
                              std::string trustPem = "") {
    ProbeRequest r;
    r.proxy = parseProxyUrl(proxyUrl);
    ProbeTarget t;
    t.address = parseTargetAddress(address);
    t.serverName = lab_->serverName();
    t.targetRootsPem = targetCa();
    r.targets.push_back(t);
    r.trustPem = std::move(trustPem);
    r.timeout = std::chrono::seconds(10);
    return r;
  }

  static TargetReport probeOne(const ProbeRequest& r) {
    auto report = runProbe(r);
    EXPECT_EQ(report.targets.size(), 1u);
    return report.targets.at(0);
  }

  static std::string grpcTarget() { return lab_->grpcServer().address(); }
  static std::string ingressTarget() { return lab_->ingress().address(); }

  static ProxyLab* lab_;
};

ProxyLab* ProbeThroughProxies::lab_ = nullptr;

TEST_F(ProbeThroughProxies, TinyproxyTunnelIsSupported) {
  auto t = probeOne(request(lab_->tinyproxy().url(), grpcTarget()));
  EXPECT_EQ(t.classification, Classification::Supported) << t.message;
  EXPECT_EQ(t.tunnel, TunnelState::Established);
  EXPECT_FALSE(t.tlsIntercepted);
  EXPECT_EQ(t.alpn, "h2");
  EXPECT_EQ(t.grpc, "OK");
  EXPECT_THAT(t.proxyServer, HasSubstr("tinyproxy/"));
  EXPECT_TRUE(t.timings.connectMs && t.timings.tunnelMs && t.timings.tlsMs && t.timings.grpcMs);
}

TEST_F(ProbeThroughProxies, SquidPlainConnectIsSupported) {
  auto t = probeOne(request(lab_->squid().url(), grpcTarget()));
  EXPECT_EQ(t.classification, Classification::Supported) << t.message;
  EXPECT_FALSE(t.tlsIntercepted);
  EXPECT_EQ(t.grpc, "OK");
}

TEST_F(ProbeThroughProxies, SquidBumpIsUnsupportedWithSpliceRemedy) {
  const auto& squid = lab_->squidBump();
  auto t = probeOne(request(squid.url(), grpcTarget(), squid.bumpCaPem()));
  EXPECT_EQ(t.classification, Classification::Unsupported) << t.message;
  EXPECT_EQ(t.tunnel, TunnelState::Established);
  EXPECT_TRUE(t.tlsIntercepted);
  EXPECT_TRUE(t.interceptorTrusted);
  EXPECT_NE(t.alpn, "h2");
  EXPECT_FALSE(t.interceptorIssuer.empty());
  EXPECT_THAT(t.grpc, HasSubstr("UNAVAILABLE"));
  EXPECT_THAT(t.proxyServer, HasSubstr("squid/5"));
  EXPECT_THAT(t.message, HasSubstr("ssl_bump splice"));
  EXPECT_THAT(t.message, HasSubstr("ssl::server_name mgmt.test"));
}

TEST_F(ProbeThroughProxies, SquidBumpByAnUntrustedCaNamesTheIssuer) {
  auto t = probeOne(request(lab_->squidBump().url(), grpcTarget()));
  EXPECT_EQ(t.classification, Classification::Unsupported) << t.message;
  EXPECT_TRUE(t.tlsIntercepted);
  EXPECT_FALSE(t.interceptorTrusted);
  EXPECT_THAT(t.message, HasSubstr("which the pods do not trust"));
  EXPECT_THAT(t.message, HasSubstr(t.interceptorIssuer));
}

TEST_F(ProbeThroughProxies, TheSpliceRemedyMakesSquidSupported) {
  const auto& squid = lab_->squidSplice();
  auto t = probeOne(request(squid.url(), grpcTarget(), squid.bumpCaPem()));
  EXPECT_EQ(t.classification, Classification::Supported) << t.message;
  EXPECT_FALSE(t.tlsIntercepted);
  EXPECT_EQ(t.alpn, "h2");
}

TEST_F(ProbeThroughProxies, InterceptorThatKeepsHttp2IsWarnWhenTrusted) {
  const auto& mitm = lab_->interceptor();
  auto t = probeOne(request(mitm.url(), grpcTarget(), mitm.caPem()));
  EXPECT_EQ(t.classification, Classification::Warn) << t.message;
  EXPECT_TRUE(t.tlsIntercepted);
  EXPECT_TRUE(t.interceptorTrusted);
  EXPECT_EQ(t.alpn, "h2");
  EXPECT_EQ(t.grpc, "OK");
  EXPECT_THAT(t.message, HasSubstr(t.interceptorIssuer));
}

TEST_F(ProbeThroughProxies, InterceptorNotTrustedIsUnsupported) {
  auto t = probeOne(request(lab_->interceptor().url(), grpcTarget()));
  EXPECT_EQ(t.classification, Classification::Unsupported) << t.message;
  EXPECT_TRUE(t.tlsIntercepted);
  EXPECT_FALSE(t.interceptorTrusted);
  EXPECT_THAT(t.grpc, Not(HasSubstr("OK")));
  EXPECT_THAT(t.message, HasSubstr("trust.caBundles"));
}

TEST_F(ProbeThroughProxies, SquidDenyingConnectIsRefusedWithFingerprint) {
  auto t = probeOne(request(lab_->squidDeny().url(), grpcTarget()));
  EXPECT_EQ(t.classification, Classification::Unsupported);
  EXPECT_EQ(t.tunnel, TunnelState::Refused);
  EXPECT_EQ(t.connectStatus, 403);
  EXPECT_EQ(t.proxyServer, "squid/5.7");
  EXPECT_THAT(t.message, HasSubstr("403 Forbidden"));
  EXPECT_THAT(t.message, HasSubstr("X-Squid-Error: ERR_ACCESS_DENIED"));
  EXPECT_TRUE(t.grpc.empty());  // nothing to say about gRPC when there is no tunnel
}

TEST_F(ProbeThroughProxies, BasicAuthAcceptedMissingAndWrong) {
  const auto& creds = lab_->tinyproxyCredentials();
  const std::string hostPort = "127.0.0.1:" + std::to_string(lab_->tinyproxyAuth().port());

  auto ok = probeOne(request("http://" + creds.user + ":" + creds.password + "@" + hostPort,
                             grpcTarget()));
  EXPECT_EQ(ok.classification, Classification::Supported) << ok.message;
  EXPECT_EQ(ok.grpc, "OK");  // gRPC itself sent the credentials from the URL

  auto missing = probeOne(request("http://" + hostPort, grpcTarget()));
  EXPECT_EQ(missing.tunnel, TunnelState::AuthRequired);
  EXPECT_EQ(missing.connectStatus, 407);
  EXPECT_THAT(missing.message, HasSubstr("no credentials were given"));

  auto wrong = probeOne(request("http://" + creds.user + ":wrong-pass@" + hostPort, grpcTarget()));
  EXPECT_EQ(wrong.tunnel, TunnelState::AuthRequired);
  EXPECT_EQ(wrong.connectStatus, 401);
  EXPECT_THAT(wrong.message, HasSubstr("rejected the credentials"));
  EXPECT_THAT(wrong.message, Not(HasSubstr("wrong-pass")));
}

TEST_F(ProbeThroughProxies, SilentProxyTimesOutWithinTheTimeout) {
  auto r = request(lab_->silentProxy().url(), grpcTarget());
  r.timeout = std::chrono::milliseconds(1500);
  auto start = std::chrono::steady_clock::now();
  auto t = probeOne(r);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(t.tunnel, TunnelState::Timeout);
  EXPECT_EQ(t.classification, Classification::Unsupported);
  EXPECT_THAT(t.message, HasSubstr("timed out waiting for the proxy's answer to CONNECT"));
  EXPECT_GE(took, std::chrono::milliseconds(1400));
  // The contract is the timeout plus at most a second; the bound is loose enough for a loaded
  // 2-core machine and still tells a timeout that works from one that waits for the default.
  EXPECT_LT(took, std::chrono::milliseconds(1500 + 5000));
}

TEST_F(ProbeThroughProxies, ClosedProxyPortIsProxyUnreachableFast) {
  auto start = std::chrono::steady_clock::now();
  auto t = probeOne(request(lab_->closedProxy().url(), grpcTarget()));
  EXPECT_EQ(t.tunnel, TunnelState::ProxyUnreachable);
  EXPECT_THAT(t.message, HasSubstr("connection refused by 127.0.0.1:"));
  // A refusal is not waited out: well under the probe's default 10 s timeout (loose enough
  // for a loaded 2-core machine).
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(7));
}

TEST_F(ProbeThroughProxies, TargetDownBehindSquidIsTargetUnreachable) {
  auto t = probeOne(request(lab_->squid().url(), lab_->downTarget().address()));
  EXPECT_EQ(t.tunnel, TunnelState::TargetUnreachable) << t.message;
  EXPECT_EQ(t.classification, Classification::Unsupported);
  EXPECT_THAT(t.message, HasSubstr("could not reach " + lab_->downTarget().address()));
}

TEST_F(ProbeThroughProxies, WebSocketFallbackThroughAPlainTunnel) {
  auto r = request(lab_->squid().url(), ingressTarget());
  r.targets[0].websocketPath = "/v1/ws";
  auto t = probeOne(r);
  EXPECT_EQ(t.classification, Classification::Supported) << t.message;
  EXPECT_EQ(t.websocketFallback, WebSocketState::Available) << t.websocketDetail;
  EXPECT_EQ(t.grpc, "OK");  // gRPC through the nginx ingress, h2 end to end
}

TEST_F(ProbeThroughProxies, WebSocketPathThatDoesNotUpgradeIsUnavailable) {
  auto r = request(lab_->tinyproxy().url(), ingressTarget());
  r.targets[0].websocketPath = "/no-such-socket";
  auto t = probeOne(r);
  EXPECT_EQ(t.websocketFallback, WebSocketState::Unavailable);
  EXPECT_FALSE(t.websocketDetail.empty());
}

TEST_F(ProbeThroughProxies, SquidBumpStripsWebSocketUnlessUpgradesAreAllowed) {
  auto stripped = request(lab_->squidBump().url(), ingressTarget(), lab_->squidBump().bumpCaPem());
  stripped.targets[0].websocketPath = "/v1/ws";
  auto t = probeOne(stripped);
  EXPECT_EQ(t.classification, Classification::Unsupported) << t.message;
  EXPECT_EQ(t.websocketFallback, WebSocketState::Unavailable);
  EXPECT_THAT(t.message, HasSubstr("http_upgrade_request_protocols websocket allow all"));

  const auto& allowing = lab_->squidBumpWebSocket();
  auto r = request(allowing.url(), ingressTarget(), allowing.bumpCaPem());
  r.targets[0].websocketPath = "/v1/ws";
  t = probeOne(r);
  EXPECT_EQ(t.classification, Classification::Unsupported) << t.message;  // gRPC still fails
  EXPECT_EQ(t.websocketFallback, WebSocketState::Available) << t.websocketDetail;
  EXPECT_THAT(t.message, HasSubstr("rely on the WebSocket fallback (available)"));
}

TEST_F(ProbeThroughProxies, HttpsProxyIsProbedOverTlsAndWarnsAboutGrpcCore) {
  // The proxy's certificate comes from the lab's CA, which the agents are told to trust.
  auto r = request(lab_->squidHttps().url(), grpcTarget(), targetCa());
  ASSERT_TRUE(r.proxy.tls());
  auto report = runProbe(r);
  ASSERT_EQ(report.targets.size(), 1u);
  const auto& t = report.targets[0];
  EXPECT_EQ(t.classification, Classification::Supported) << t.message;
  EXPECT_EQ(t.tunnel, TunnelState::Established);
  EXPECT_EQ(t.grpc, "OK");  // gRPC C++ reached it through the probe's TLS relay
  ASSERT_EQ(report.warnings.size(), 1u);
  EXPECT_THAT(report.warnings[0], HasSubstr("ignore https:// proxies and connect directly"));
}

TEST_F(ProbeThroughProxies, HttpsProxyWithAnUntrustedCertificateIsUnreachable) {
  auto t = probeOne(request(lab_->squidHttps().url(), grpcTarget()));
  EXPECT_EQ(t.tunnel, TunnelState::ProxyUnreachable);
  EXPECT_EQ(t.failedStep, ProbeStep::ProxyTls);
  EXPECT_THAT(t.message, HasSubstr("the proxy's TLS certificate does not verify"));
}

TEST_F(ProbeThroughProxies, SeveralTargetsInOneCallAreClassifiedEach) {
  auto r = request(lab_->squid().url(), grpcTarget());
  ProbeTarget down = r.targets[0];
  down.address = parseTargetAddress(lab_->downTarget().address());
  r.targets.push_back(down);
  ProbeTarget ingress = r.targets[0];
  ingress.address = parseTargetAddress(ingressTarget());
  r.targets.push_back(ingress);
  auto report = runProbe(r);
  ASSERT_EQ(report.targets.size(), 3u);
  EXPECT_EQ(report.targets[0].classification, Classification::Supported);
  EXPECT_EQ(report.targets[1].tunnel, TunnelState::TargetUnreachable);
  EXPECT_EQ(report.targets[2].classification, Classification::Supported);
  EXPECT_EQ(report.classification, Classification::Unsupported);
  EXPECT_EQ(report.targets[1].address, lab_->downTarget().address());
}

// ---- any bytes from a proxy, interception judged by name, failures in plain words ----

TEST_F(ProbeThroughProxies, AProxyAnsweringInLatin1WithControlCharactersStillMakesAReport) {
  testing::ScriptedProxy latin1(
      "HTTP/1.1 403 Acc\xE8s interdit\x1b[0m\r\nServer: Proxy\xAE 2000\r\n"
      "X-Squid-Error: ERR_\xFF\x07\r\nVia: 1.1 caf\xE9\r\n\r\n");
  auto report = runProbe(request(latin1.url(), grpcTarget()));
  ASSERT_EQ(report.targets.size(), 1u);
  const auto& t = report.targets[0];
  EXPECT_EQ(t.tunnel, TunnelState::Refused);
  EXPECT_EQ(t.connectStatus, 403);
  EXPECT_THAT(t.message, HasSubstr("Acc\xC3\xA8s interdit"));  // the Latin-1 è, as UTF-8
  EXPECT_THAT(t.message, Not(HasSubstr("\x1b")));
  std::string json;
  ASSERT_NO_THROW(json = toJson(report));
  EXPECT_NO_THROW(nlohmann::json::parse(json));
  EXPECT_NO_THROW(toText(report));
}

TEST_F(ProbeThroughProxies, AValidCertificateForAnotherNameIsInterception) {
  // The lab's gRPC server has a certificate from the target CA, for mgmt.test: through a plain
  // tunnel, asked for another name, the chain verifies but the name does not.
  auto r = request(lab_->tinyproxy().url(), grpcTarget());
  r.targets[0].serverName = "other.mgmt.test";
  auto t = probeOne(r);
  EXPECT_EQ(t.tunnel, TunnelState::Established);
  EXPECT_TRUE(t.tlsIntercepted);
  EXPECT_TRUE(t.certificateForOtherName);
  EXPECT_EQ(t.classification, Classification::Unsupported) << t.message;
  EXPECT_EQ(t.reason, "CertificateNameMismatch") << t.message;
  EXPECT_THAT(t.message, HasSubstr("not other.mgmt.test"));
  EXPECT_THAT(t.message, HasSubstr("mgmt.test"));
}

TEST_F(ProbeThroughProxies, FailuresAreInPlainWords) {
  // Nothing listens at the proxy's port.
  auto refused = probeOne(request(lab_->closedProxy().url(), grpcTarget()));
  EXPECT_THAT(refused.message,
              HasSubstr("connection refused by 127.0.0.1:" +
                        std::to_string(lab_->closedProxy().port())));

  // The same proxy by name: the message names the address the name resolved to, as well.
  const std::string port = std::to_string(lab_->closedProxy().port());
  auto byName = probeOne(request("http://localhost:" + port, grpcTarget()));
  EXPECT_THAT(byName.message, HasSubstr("connection refused by localhost:" + port + " ("));
  EXPECT_THAT(byName.message, ::testing::AnyOf(HasSubstr("(127.0.0.1)"), HasSubstr("(::1)")));

  // The target accepts the tunnel, then closes during the TLS handshake.
  testing::ScriptedProxy closing("");
  auto closed = probeOne(request(lab_->tinyproxy().url(), closing.address()));
  EXPECT_EQ(closed.reason, "TLSHandshakeFailed") << closed.message;
  EXPECT_THAT(closed.message,
              HasSubstr("the other side closed the connection during the TLS handshake"));

  // The target answers TLS with plain HTTP.
  testing::ScriptedProxy plainHttp("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
  auto notTls = probeOne(request(lab_->tinyproxy().url(), plainHttp.address()));
  EXPECT_EQ(notTls.reason, "TLSHandshakeFailed") << notTls.message;
  EXPECT_THAT(notTls.message, HasSubstr("does not speak TLS on this port"));

  // An interceptor whose CA nobody gave: the certificate's problem is named, with its issuer.
  auto bumped = probeOne(request(lab_->squidBump().url(), grpcTarget()));
  EXPECT_THAT(bumped.certificateProblem, HasSubstr("certificate signed by an unknown authority ("));
  EXPECT_THAT(bumped.certificateProblem, HasSubstr(bumped.interceptorIssuer));

  // An https:// proxy whose certificate nobody trusts.
  auto proxyTls = probeOne(request(lab_->squidHttps().url(), grpcTarget()));
  EXPECT_THAT(proxyTls.message, HasSubstr("certificate signed by an unknown authority"));

  // gRPC through Squid's bump: what the missing ALPN means.
  auto noAlpn = probeOne(request(lab_->squidBump().url(), grpcTarget(),
                                 lab_->squidBump().bumpCaPem()));
  EXPECT_THAT(noAlpn.message, HasSubstr("gRPC needs HTTP/2"));

  // No message carries an OpenSSL error number ("error:0A000126:") or a bare errno.
  for (const auto* t : {&refused, &byName, &closed, &notTls, &bumped, &proxyTls, &noAlpn}) {
    EXPECT_THAT(t->message, Not(HasSubstr("error:"))) << t->message;
    EXPECT_THAT(t->message, Not(HasSubstr("SSL routines"))) << t->message;
    EXPECT_THAT(t->message, Not(HasSubstr("errno"))) << t->message;
  }
}

// ---- the command line, as a user runs it ----

struct CommandResult {
  int exitCode = -1;
  std::string out, err;
};

// What a command wrote to a file of the test's, which is then removed.
std::string takeOutput(const std::string& path) {
  auto text = encoding::readFile(path).value_or("");
  std::remove(path.c_str());
  return text;
}

CommandResult runAgentproxy(const std::vector<std::string>& args,
                            const std::string& environment = "") {
  const char* bin = std::getenv("AGENTPROXY_BIN");
  EXPECT_NE(bin, nullptr) << "AGENTPROXY_BIN is set by CTest";
  std::string errFile = ::testing::TempDir() + "agentproxy-stderr-" + std::to_string(::getpid());
  std::string command = "env -u HTTPS_PROXY -u https_proxy " + environment + " " +
                        (bin ? bin : "agentproxy");
  for (const auto& a : args) command += " '" + a + "'";
  command += " 2>" + errFile;
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  std::array<char, 4096> buf;
  while (size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) result.out.append(buf.data(), n);
  int status = ::pclose(pipe);
  result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.err = takeOutput(errFile);
  return result;
}

TEST_F(ProbeThroughProxies, CommandLineExitCodesAndJson) {
  const auto targetCaFile = lab_->targetCaFile().string();
  auto supported = runAgentproxy({"probe", "--proxy", lab_->squid().url(), "--target",
                                  grpcTarget(), "--server-name", "mgmt.test", "--target-ca",
                                  targetCaFile, "--output", "json"});
  EXPECT_EQ(supported.exitCode, 0) << supported.out << supported.err;
  auto j = nlohmann::json::parse(supported.out);
  EXPECT_EQ(j["classification"], "Supported");
  EXPECT_EQ(j["targets"][0]["tunnel"], "Established");
  EXPECT_EQ(j["targets"][0]["grpc"], "OK");

  auto warn = runAgentproxy({"probe", "--proxy", lab_->interceptor().url(), "--target",
                             grpcTarget(), "--server-name", "mgmt.test", "--target-ca",
                             targetCaFile, "--trust-ca", lab_->interceptor().caFile().string()});
  EXPECT_EQ(warn.exitCode, 1) << warn.out << warn.err;
  EXPECT_THAT(warn.out, HasSubstr("Warn"));

  auto unsupported = runAgentproxy({"probe", "--proxy", lab_->squidBump().url(), "--target",
                                    grpcTarget(), "--server-name", "mgmt.test", "--target-ca",
                                    targetCaFile, "--trust-ca",
                                    lab_->squidBump().bumpCaFile().string()});
  EXPECT_EQ(unsupported.exitCode, 2) << unsupported.out << unsupported.err;
  EXPECT_THAT(unsupported.out, HasSubstr("ssl_bump splice"));
}

TEST_F(ProbeThroughProxies, CommandLineNeverPrintsThePassword) {
  const auto& creds = lab_->tinyproxyCredentials();
  const std::string hostPort = "127.0.0.1:" + std::to_string(lab_->tinyproxyAuth().port());
  for (const std::string& password : {creds.password, std::string("not-the-password")}) {
    for (const char* format : {"text", "json"}) {
      auto r = runAgentproxy({"probe", "--proxy",
                              "http://" + creds.user + ":" + password + "@" + hostPort,
                              "--target", grpcTarget(), "--server-name", "mgmt.test",
                              "--target-ca", lab_->targetCaFile().string(), "--output", format});
      EXPECT_EQ(r.exitCode, password == creds.password ? 0 : 2) << r.out << r.err;
      EXPECT_THAT(r.out + r.err, Not(HasSubstr(password)));
      EXPECT_THAT(r.out, HasSubstr("http://***@" + hostPort));
    }
  }
}

TEST_F(ProbeThroughProxies, CommandLineTakesCredentialsFromAFileOrHttpsProxy) {
  const auto& creds = lab_->tinyproxyCredentials();
  const std::string hostPort = "127.0.0.1:" + std::to_string(lab_->tinyproxyAuth().port());
  const std::vector<std::string> target = {"--target", grpcTarget(), "--server-name",
                                           "mgmt.test", "--target-ca",
                                           lab_->targetCaFile().string()};
  auto file = lab_->dir() / "proxy-credentials";
  std::ofstream(file) << "username=" << creds.user << "\npassword=" << creds.password << "\n";
  std::vector<std::string> args = {"probe", "--proxy", "http://" + hostPort,
                                   "--proxy-credentials-file", file.string()};
  args.insert(args.end(), target.begin(), target.end());
  auto fromFile = runAgentproxy(args);
  EXPECT_EQ(fromFile.exitCode, 0) << fromFile.out << fromFile.err;
  EXPECT_THAT(fromFile.out + fromFile.err, Not(HasSubstr(creds.password)));

  args = {"probe"};
  args.insert(args.end(), target.begin(), target.end());
  auto fromEnv = runAgentproxy(
      args, "HTTPS_PROXY='http://" + creds.user + ":" + creds.password + "@" + hostPort + "'");
  EXPECT_EQ(fromEnv.exitCode, 0) << fromEnv.out << fromEnv.err;
  EXPECT_THAT(fromEnv.out + fromEnv.err, Not(HasSubstr(creds.password)));
  EXPECT_THAT(fromEnv.out, HasSubstr("http://***@" + hostPort));

  // The password typed on the command line works, and the probe says where else to put it.
  args = {"probe", "--proxy", "http://" + creds.user + ":" + creds.password + "@" + hostPort};
  args.insert(args.end(), target.begin(), target.end());
  auto typed = runAgentproxy(args);
  EXPECT_EQ(typed.exitCode, 0) << typed.out << typed.err;
  EXPECT_THAT(typed.err, HasSubstr("--proxy-credentials-file"));
}

// Runs `agentproxy args...` in a network and mount namespace of its own, whose /etc/resolv.conf
// names one DNS server, on its 127.0.0.1:53, that receives every query and answers none. Between
// fork and exec the child makes system calls only (the test process has threads).
CommandResult runAgentproxyWithSilentDns(const std::vector<std::string>& args) {
  const char* bin = std::getenv("AGENTPROXY_BIN");
  EXPECT_NE(bin, nullptr) << "AGENTPROXY_BIN is set by CTest";
  if (!bin) return {};
  const std::string dir = ::testing::TempDir();
  const std::string resolvConf = dir + "resolv.conf-silent-" + std::to_string(::getpid());
  const std::string outFile = resolvConf + ".out", errFile = resolvConf + ".err";
  std::ofstream(resolvConf) << "nameserver 127.0.0.1\n";
  std::vector<std::string> argStore = {bin};
  argStore.insert(argStore.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argStore) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> envStore;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    if (!v.starts_with("HTTPS_PROXY=") && !v.starts_with("https_proxy=")) envStore.emplace_back(v);
  }
  std::vector<char*> envp;
  for (auto& e : envStore) envp.push_back(e.data());
  envp.push_back(nullptr);
  int out = ::open(outFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int err = ::open(errFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  pid_t pid = ::fork();
  if (pid == 0) {
    auto die = [&](const char* what) {
      ::dprintf(err, "test setup failed: %s: %s\n", what, ::strerror(errno));
      ::_exit(70);
    };
    if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) die("unshare");
    if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) die("mount private");
    int ctl = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ifreq lo{};
    std::strcpy(lo.ifr_name, "lo");
    if (::ioctl(ctl, SIOCGIFFLAGS, &lo) != 0) die("get lo flags");
    lo.ifr_flags |= IFF_UP;
    if (::ioctl(ctl, SIOCSIFFLAGS, &lo) != 0) die("bring lo up");
    int dns = ::socket(AF_INET, SOCK_DGRAM, 0);  // kept open across exec: silent, not refused
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(53);
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(dns, reinterpret_cast<sockaddr*>(&at), sizeof at) != 0) die("bind 127.0.0.1:53");
    if (::mount(resolvConf.c_str(), "/etc/resolv.conf", nullptr, MS_BIND, nullptr) != 0) {
      die("bind-mount /etc/resolv.conf");
    }
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execve(bin, argv.data(), envp.data());
    die("exec");
  }
  ::close(out);
  ::close(err);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CommandResult result;
  result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = takeOutput(outFile);
  result.err = takeOutput(errFile);
  std::remove(resolvConf.c_str());
  return result;
}

// A proxy whose name no DNS server answers for: the report says the lookup timed out, not
// the connection, so the reader checks DNS rather than the proxy.
TEST_F(ProbeThroughProxies, CommandLineSaysWhenTheProxysNameLookupTimesOut) {
  auto r = runAgentproxyWithSilentDns({"probe", "--proxy", "http://slow.corp.test:3128",
                                       "--target", "mgmt.test:443", "--timeout", "2s",
                                       "--output", "json"});
  ASSERT_EQ(r.exitCode, 2) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out);
  const auto& t = j["targets"][0];
  EXPECT_EQ(t["classification"], "Unsupported") << t.dump();
  EXPECT_EQ(t["tunnel"], "Timeout") << t.dump();
  const std::string message = t.value("message", "");
  EXPECT_THAT(message, HasSubstr("slow.corp.test:3128 timed out looking up the proxy's name"));
  EXPECT_THAT(message, HasSubstr("DNS"));
  EXPECT_THAT(message, Not(HasSubstr("connecting to the proxy")));
}

TEST_F(ProbeThroughProxies, CommandLineUsageErrorsExit64WithOneLine) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"probe", "--proxy", "http://:3128", "--target", grpcTarget()},
           {"probe", "--proxy", lab_->squid().url(), "--target", "mgmt.test"},
           {"probe", "--proxy", lab_->squid().url(), "--target", grpcTarget(), "--trust-ca",
            lab_->dir().string()},
           {"frobnicate"}}) {
    auto r = runAgentproxy(args);
    EXPECT_EQ(r.exitCode, 64) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_GE(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr("agentproxy")) << r.err;
  }
}

}  // namespace
}  // namespace agentproxy::probe
