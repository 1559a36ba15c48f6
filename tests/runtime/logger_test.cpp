#include "runtime/logger.h"

#include <gtest/gtest.h>

#include <sstream>
#include <thread>
#include <vector>

#include "runtime/fake_clock.h"

namespace agentproxy::runtime {
namespace {

using nlohmann::json;

std::vector<json> entries(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
  return out;
}

class LoggerTest : public ::testing::Test {
 protected:
  // 2026-11-27T11:05:00.123Z
  FakeClock clock_{Clock::WallTime(std::chrono::milliseconds(1'795'777'500'123))};
  std::ostringstream out_;
  Logger logger_{out_, LogLevel::Info, clock_};
};

TEST_F(LoggerTest, WritesOneJsonObjectPerLine) {
  logger_.info("reconciled", {{"policy", "corp-proxy"}, {"durationMs", 12}, {"changed", true}});
  logger_.error("probe failed", {{"reason", "AuthRequired"}});
  const std::string text = out_.str();
  EXPECT_EQ(text.substr(0, text.find('\n')),
            R"({"ts":"2026-11-27T11:05:00.123Z","level":"info","msg":"reconciled",)"
            R"("policy":"corp-proxy","durationMs":12,"changed":true})");
  const std::vector<json> logged = entries(text);
  ASSERT_EQ(logged.size(), 2u);
  EXPECT_EQ(logged[1]["level"], "error");
  EXPECT_EQ(logged[1]["reason"], "AuthRequired");
}

TEST_F(LoggerTest, DropsEntriesBelowTheThreshold) {
  logger_.debug("noise");
  logger_.warn("kept");
  EXPECT_FALSE(logger_.enabled(LogLevel::Debug));
  logger_.setLevel(LogLevel::Debug);
  logger_.debug("now kept");
  const std::vector<json> logged = entries(out_.str());
  ASSERT_EQ(logged.size(), 2u);
  EXPECT_EQ(logged[0]["msg"], "kept");
  EXPECT_EQ(logged[0]["level"], "warn");
  EXPECT_EQ(logged[1]["level"], "debug");
}

TEST_F(LoggerTest, RegisteredSecretNeverAppears) {
  const std::string password = "Pr0xy\"Pa$$";
  const std::string token = "eyJhbGciOiJSUzI1NiJ9.payload.sig";
  logger_.addSecret(password);
  logger_.addSecret(token);
  logger_.info("auth with " + password, {{"password", password},
                                         {"header", "Authorization: Bearer " + token},
                                         {"nested", {{"list", {password, token}}}},
                                         {password, "as a key"}});
  logger_.warn("token " + token + " rejected");
  const std::string text = out_.str();
  EXPECT_EQ(text.find(password), std::string::npos) << text;
  EXPECT_EQ(text.find("Pr0xy"), std::string::npos) << text;  // not even its JSON-escaped form
  EXPECT_EQ(text.find(token), std::string::npos) << text;
  const std::vector<json> logged = entries(text);
  ASSERT_EQ(logged.size(), 2u);
  EXPECT_EQ(logged[0]["msg"], "auth with ***");
  EXPECT_EQ(logged[0]["password"], "***");
  EXPECT_EQ(logged[0]["header"], "Authorization: Bearer ***");
  EXPECT_EQ(logged[0]["nested"]["list"], json::array({"***", "***"}));
  EXPECT_EQ(logged[0]["***"], "as a key");
  EXPECT_EQ(logged[1]["msg"], "token *** rejected");
}

TEST_F(LoggerTest, SharesItsSecretsForOtherOutput) {
  logger_.addSecret("hunter2");
  EXPECT_EQ(logger_.redactor().redact("Event: password hunter2 rejected"),
            "Event: password *** rejected");
}

TEST_F(LoggerTest, MasksUrlPasswordsThatWereNeverRegistered) {
  logger_.info("using proxy http://svc:unregistered@proxy.corp:3128",
               {{"proxy", "https://svc:unregistered@proxy.corp:3129/"}});
  const std::string text = out_.str();
  EXPECT_EQ(text.find("unregistered"), std::string::npos) << text;
  const json logged = entries(text).at(0);
  EXPECT_EQ(logged["msg"], "using proxy http://svc:***@proxy.corp:3128");
  EXPECT_EQ(logged["proxy"], "https://svc:***@proxy.corp:3129/");
}

TEST_F(LoggerTest, FieldsCannotForgeTheFixedKeys) {
  logger_.info("real", {{"msg", "forged"}, {"level", "debug"}});
  const json logged = entries(out_.str()).at(0);
  EXPECT_EQ(logged["msg"], "real");
  EXPECT_EQ(logged["level"], "info");
  EXPECT_EQ(logged["field.msg"], "forged");
  EXPECT_EQ(logged["field.level"], "debug");
}

TEST_F(LoggerTest, InvalidUtf8IsReplacedNotThrown) {
  logger_.info("proxy said \xff\xfe", {{"raw", "\xc3"}});
  const std::vector<json> logged = entries(out_.str());
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0]["msg"], "proxy said \xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_F(LoggerTest, ConcurrentEntriesNeverInterleave) {
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < 500; ++i) {
        logger_.info(std::string(200, static_cast<char>('a' + t)), {{"i", i}, {"thread", t}});
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const std::vector<json> logged = entries(out_.str());  // parse() throws on a torn line
  ASSERT_EQ(logged.size(), 2000u);
  for (const json& entry : logged) {
    const std::string msg = entry["msg"];
    EXPECT_EQ(msg, std::string(200, static_cast<char>('a' + entry["thread"].get<int>())));
  }
}

TEST(FormatLogTime, Rfc3339UtcWithMilliseconds) {
  EXPECT_EQ(formatLogTime(Clock::WallTime{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(formatLogTime(Clock::WallTime(std::chrono::milliseconds(951'782'400'007))),
            "2000-02-29T00:00:00.007Z");
  // Sub-millisecond parts are truncated, never rounded into the next second.
  EXPECT_EQ(formatLogTime(Clock::WallTime(std::chrono::microseconds(1'999'999))),
            "1970-01-01T00:00:01.999Z");
}

}  // namespace
}  // namespace agentproxy::runtime
