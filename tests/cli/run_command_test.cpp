// `agentproxy run`'s flags: the webhook served at a URL (an operator outside its cluster).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cli/run_command.h"
#include "probe/proxy_url.h"

namespace agentproxy::cli {
namespace {

using ::testing::HasSubstr;

TEST(WebhookUrlHost, TakesTheHostOfAnHttpsUrl) {
  EXPECT_EQ(webhookUrlHost("https://127.0.0.1:9443/mutate-v1-pod"), "127.0.0.1");
  EXPECT_EQ(webhookUrlHost("https://[::1]:9443/mutate-v1-pod"), "::1");
  EXPECT_EQ(webhookUrlHost("https://operator.corp.example/mutate-v1-pod"),
            "operator.corp.example");
  EXPECT_EQ(webhookUrlHost("https://operator.corp.example"), "operator.corp.example");
}

TEST(WebhookUrlHost, RefusesWhatKubernetesRefusesWithTheReason) {
  auto reason = [](const std::string& url) {
    try {
      webhookUrlHost(url);
    } catch (const probe::InputError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_THAT(reason("http://127.0.0.1:9443/x"), HasSubstr("must start with https://"));
  EXPECT_THAT(reason("https://u:p@127.0.0.1/x"), HasSubstr("cannot carry user info"));
  EXPECT_THAT(reason("https://127.0.0.1/x?y=1"), HasSubstr("query or fragment"));
  EXPECT_THAT(reason("https://:9443/x"), HasSubstr("has no host"));
  EXPECT_THAT(reason("https://[::1:9443/x"), HasSubstr("without its ']'"));
}

TEST(ParseRunFlags, WebhookUrlIsCheckedWhenGiven) {
  auto options = parseRunFlags({"--webhook-url", "https://127.0.0.1:9443/mutate-v1-pod"});
  EXPECT_EQ(options.webhookUrl, "https://127.0.0.1:9443/mutate-v1-pod");
  EXPECT_TRUE(parseRunFlags({}).webhookUrl.empty());
  EXPECT_THROW(parseRunFlags({"--webhook-url", "ftp://x/y"}), probe::InputError);
}

}  // namespace
}  // namespace agentproxy::cli
