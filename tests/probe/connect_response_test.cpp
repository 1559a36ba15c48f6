#include "probe/connect_response.h"

#include <gtest/gtest.h>

namespace agentproxy::probe {
namespace {

TEST(ParseResponseHead, SquidDenialWithFingerprintHeaders) {
  auto head = parseResponseHead(
      "HTTP/1.1 403 Forbidden\r\nServer: squid/5.7\r\nMime-Version: 1.0\r\n"
      "X-Squid-Error: ERR_ACCESS_DENIED 0\r\nVia: 1.1 proxy (squid/5.7)\r\n\r\n");
  EXPECT_EQ(head.status, 403);
  EXPECT_EQ(head.reason, "Forbidden");
  EXPECT_EQ(head.header("x-squid-error").value_or(""), "ERR_ACCESS_DENIED 0");
  EXPECT_EQ(fingerprint(head), "squid/5.7");
  EXPECT_EQ(tunnelStateFor(head.status), TunnelState::Refused);
}

TEST(ParseResponseHead, SquidSuccessHasNoHeaders) {
  auto head = parseResponseHead("HTTP/1.1 200 Connection established\r\n\r\n");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.reason, "Connection established");
  EXPECT_TRUE(head.headers.empty());
  EXPECT_EQ(fingerprint(head), "");
  EXPECT_EQ(tunnelStateFor(head.status), TunnelState::Established);
}

TEST(ParseResponseHead, TinyproxyProxyAgentAndBareLineFeeds) {
  auto head = parseResponseHead(
      "HTTP/1.0 200 Connection established\nProxy-agent: tinyproxy/1.11.1\n\n");
  EXPECT_EQ(fingerprint(head), "tinyproxy/1.11.1");
}

TEST(ParseResponseHead, ViaCommentFingerprint) {
  auto head = parseResponseHead("HTTP/1.1 502 Bad Gateway\r\nVia: 1.1 gw.corp (squid/6.6)\r\n\r\n");
  EXPECT_EQ(fingerprint(head), "squid/6.6");
}

TEST(ParseResponseHead, UnknownServerIsShownAsIs) {
  auto head = parseResponseHead("HTTP/1.1 403 Forbidden\r\nServer: BlueCoat-Security-Appliance\r\n\r\n");
  EXPECT_EQ(fingerprint(head), "BlueCoat-Security-Appliance");
}

TEST(ParseResponseHead, RejectsWhatIsNotHttp) {
  EXPECT_THROW(parseResponseHead("SSH-2.0-OpenSSH_9.2\r\n"), std::invalid_argument);
  EXPECT_THROW(parseResponseHead("HTTP/1.1 abc Nope\r\n\r\n"), std::invalid_argument);
  EXPECT_THROW(parseResponseHead("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"),
               std::invalid_argument);
  try {
    parseResponseHead(std::string("\x16\x03\x01\x00", 4));
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("did not answer with HTTP"), std::string::npos);
  }
}

TEST(TunnelStateFor, DesignTable) {
  EXPECT_EQ(tunnelStateFor(200), TunnelState::Established);
  EXPECT_EQ(tunnelStateFor(407), TunnelState::AuthRequired);
  EXPECT_EQ(tunnelStateFor(401), TunnelState::AuthRequired);  // tinyproxy, wrong password
  EXPECT_EQ(tunnelStateFor(502), TunnelState::TargetUnreachable);
  EXPECT_EQ(tunnelStateFor(503), TunnelState::TargetUnreachable);
  EXPECT_EQ(tunnelStateFor(504), TunnelState::TargetUnreachable);
  EXPECT_EQ(tunnelStateFor(403), TunnelState::Refused);
  EXPECT_EQ(tunnelStateFor(405), TunnelState::Refused);
  EXPECT_EQ(tunnelStateFor(500), TunnelState::Refused);
}

}  // namespace
}  // namespace agentproxy::probe
