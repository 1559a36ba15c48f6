#include "probe/proxy_url.h"

#include <gtest/gtest.h>

namespace agentproxy::probe {
namespace {

TEST(ParseProxyUrl, PlainHttpWithPort) {
  auto url = parseProxyUrl("http://proxy.corp.example:3128");
  EXPECT_EQ(url.scheme, "http");
  EXPECT_EQ(url.host, "proxy.corp.example");
  EXPECT_EQ(url.port, 3128);
  EXPECT_FALSE(url.hasCredentials());
  EXPECT_EQ(url.redacted(), "http://proxy.corp.example:3128");
}

TEST(ParseProxyUrl, DefaultPortsFollowTheScheme) {
  EXPECT_EQ(parseProxyUrl("http://proxy").port, 80);
  EXPECT_EQ(parseProxyUrl("https://proxy").port, 443);
  EXPECT_EQ(parseProxyUrl("HTTPS://proxy:8443/").port, 8443);
  EXPECT_TRUE(parseProxyUrl("https://proxy").tls());
}

TEST(ParseProxyUrl, UserinfoIsPercentDecodedAndNeverShown) {
  auto url = parseProxyUrl("http://svc%40corp:p%40ss%3Aw%2Frd@10.0.0.1:8080");
  EXPECT_EQ(url.username, "svc@corp");
  EXPECT_EQ(url.password, "p@ss:w/rd");
  EXPECT_EQ(url.redacted(), "http://***@10.0.0.1:8080");
  EXPECT_EQ(url.redacted().find("p@ss"), std::string::npos);
  // Re-encoded for gRPC, and parsing that gives the same credentials back.
  auto again = parseProxyUrl(url.withCredentials());
  EXPECT_EQ(again.username, "svc@corp");
  EXPECT_EQ(again.password, "p@ss:w/rd");
}

TEST(ParseProxyUrl, PasswordMayContainAtSign) {
  auto url = parseProxyUrl("http://user:a@b@proxy:3128");
  EXPECT_EQ(url.password, "a@b");
  EXPECT_EQ(url.host, "proxy");
}

TEST(ParseProxyUrl, Ipv6Literal) {
  auto url = parseProxyUrl("http://[::1]:3128");
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.hostPort(), "[::1]:3128");
}

void expectError(const std::string& input, const std::string& fragment) {
  try {
    parseProxyUrl(input);
    FAIL() << "accepted " << input;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos)
        << "message for " << input << ": " << e.what();
  }
}

TEST(ParseProxyUrl, RejectsWhatIsNotAnHttpProxy) {
  expectError("socks5://proxy:1080", "\"socks5\" is not supported");
  expectError("proxy:3128", "must start with http:// or https://");
  expectError("http://", "no host");
  expectError("http://:3128", "bad host");
  expectError("http://proxy:0", "bad port \"0\"");
  expectError("http://proxy:99999", "bad port \"99999\"");
  expectError("http://proxy:31x8", "bad port \"31x8\"");
  expectError("http://proxy:", "empty port");
  expectError("http://proxy:3128/path", "must not have a path");
  expectError("http://::1:3128", "IPv6 addresses need brackets");
  expectError("http://[::1:3128", "unterminated IPv6");
  expectError("http://pro xy:3128", "bad host");
  expectError("http://:secret@proxy:3128", "no user name");
}

TEST(ParseProxyUrl, ErrorsNeverEchoThePassword) {
  for (const char* input : {"http://user:s3cret%zz@proxy:3128", "http://user:s3cret@proxy:bad",
                            "http://user:s3cret@proxy:3128/x"}) {
    try {
      parseProxyUrl(input);
      FAIL() << "accepted " << input;
    } catch (const InputError& e) {
      EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos) << e.what();
    }
  }
}

TEST(ParseTargetAddress, HostPortAndIpv6) {
  auto t = parseTargetAddress("api.mgmt.example.com:443");
  EXPECT_EQ(t.host, "api.mgmt.example.com");
  EXPECT_EQ(t.port, 443);
  auto v6 = parseTargetAddress("[2001:db8::1]:8443");
  EXPECT_EQ(v6.host, "2001:db8::1");
  EXPECT_EQ(v6.hostPort(), "[2001:db8::1]:8443");
}

TEST(ParseTargetAddress, RejectsMissingPortAndUrls) {
  EXPECT_THROW(parseTargetAddress("api.mgmt.example.com"), InputError);
  EXPECT_THROW(parseTargetAddress("https://api.mgmt.example.com:443"), InputError);
  EXPECT_THROW(parseTargetAddress(""), InputError);
  EXPECT_THROW(parseTargetAddress("host:70000"), InputError);
  try {
    parseTargetAddress("api.mgmt.example.com");
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "target \"api.mgmt.example.com\" has no port (want host:port)");
  }
}

}  // namespace
}  // namespace agentproxy::probe
