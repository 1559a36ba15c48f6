// Whatever bytes a proxy sends, what the probe keeps of them is valid UTF-8 that
// nlohmann::json can dump, so a policy's status and Events can always be written.
#include "probe/safe_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "probe/classify.h"
#include "probe/connect_response.h"
#include "probe/report.h"

namespace agentproxy::probe {
namespace {

using ::testing::HasSubstr;

TEST(SafeText, ValidUtf8IsKept) {
  EXPECT_EQ(safeText("Zugriff verweigert \xC3\xBC \xE2\x82\xAC \xF0\x9F\x94\x92"),
            "Zugriff verweigert \xC3\xBC \xE2\x82\xAC \xF0\x9F\x94\x92");
}

TEST(SafeText, Latin1BytesBecomeTheirCharacters) {
  EXPECT_EQ(safeText("Acc\xE8s refus\xE9"), "Acc\xC3\xA8s refus\xC3\xA9");
  EXPECT_TRUE(isSafeText(safeText("Acc\xE8s refus\xE9")));
}

TEST(SafeText, ControlCharactersAreReplaced) {
  std::string out = safeText(std::string("a\x1b[31mred\x00\r\nb\x7f\tc\xC2\x85", 18));
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_EQ(out.find('\n'), std::string::npos);
  EXPECT_EQ(out.find('\0'), std::string::npos);
  EXPECT_THAT(out, HasSubstr("red"));
  EXPECT_THAT(out, HasSubstr(" c"));  // the tab is a space
  EXPECT_TRUE(isSafeText(out));
}

TEST(SafeText, OverlongSurrogateAndBidiOverrideAreNotKept) {
  for (std::string bad : {"\xC0\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x80\xAE",
                          "\xE2\x80\xA8", "\xF0\x9F"}) {
    std::string out = safeText("x" + bad + "y");
    EXPECT_TRUE(isSafeText(out)) << out;
    EXPECT_FALSE(isSafeText("x" + bad + "y"));
  }
}

TEST(SafeText, LengthIsBoundedOnACharacterBoundary) {
  std::string longText(300, 'a');
  for (int i = 0; i < 300; ++i) longText += "\xC3\xBC";
  std::string out = safeText(longText, 301);
  EXPECT_LE(out.size(), 301u + 3u);
  EXPECT_TRUE(out.ends_with("\xE2\x80\xA6")) << out;
  EXPECT_TRUE(isSafeText(out));
}

TEST(SafeText, EveryByteValueGivesDumpableJson) {
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  std::string out = safeText(all, 4096);
  EXPECT_TRUE(isSafeText(out));
  EXPECT_NO_THROW(nlohmann::json(out).dump());
}

// The proxy's own bytes, as they reach a report and the JSON written to status.
TEST(ProxyBytes, Latin1AndControlCharactersInAnAnswerStillMakeAJsonReport) {
  auto head = parseResponseHead(
      "HTTP/1.1 403 Acc\xE8s interdit\x07\r\nServer: Proxy\xAE 2000\x1b[0m\r\n"
      "X-Squid-Error: ERR_\xFF\xFE\r\nVia: 1.1 gw (caf\xE9)\r\n\r\n");
  EXPECT_EQ(head.reason, "Acc\xC3\xA8s interdit\xEF\xBF\xBD");
  for (const auto& [name, value] : head.headers) {
    EXPECT_TRUE(isSafeText(name)) << name;
    EXPECT_TRUE(isSafeText(value)) << value;
  }
  TargetReport target;
  target.address = "mgmt.example:443";
  target.tunnel = tunnelStateFor(head.status);
  target.failedStep = ProbeStep::Connect;
  target.connectStatus = head.status;
  target.connectReason = head.reason;
  target.squidError = head.header("X-Squid-Error").value_or("");
  target.proxyServer = fingerprint(head);
  ProbeReport report;
  report.targets.push_back(target);
  classifyReport(report, "127.0.0.1:3128");
  std::string json;
  ASSERT_NO_THROW(json = toJson(report));
  EXPECT_THAT(json, HasSubstr("Acc\xC3\xA8s interdit"));
  EXPECT_TRUE(isSafeText(report.targets[0].message));
}

TEST(ProxyBytes, ABadStatusLineIsQuotedSafely) {
  try {
    parseResponseHead("HTTP/1.1 2\xFF\x1b Nope\r\n\r\n");
    FAIL() << "a bad status line must throw";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(isSafeText(e.what())) << e.what();
  }
  try {
    parseResponseHead("\x16\x03\x01\x02\x00\xFF garbage\r\n\r\n");
    FAIL() << "TLS bytes are not HTTP";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(isSafeText(e.what())) << e.what();
  }
}

TEST(ProxyBytes, AHugeHeaderValueIsBounded) {
  auto head = parseResponseHead("HTTP/1.1 403 Forbidden\r\nServer: " + std::string(8000, 'x') +
                                "\r\n\r\n");
  EXPECT_LE(head.header("Server")->size(), kMaxForeignText + 3);
}

}  // namespace
}  // namespace agentproxy::probe
