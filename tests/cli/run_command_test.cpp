// `agentproxy run`'s flags: the webhook served at a URL (an operator outside its cluster).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "cli/run_command.h"
#include "kube/errors.h"
#include "kube/troubled_api_server.h"
#include "probe/proxy_url.h"

namespace agentproxy::cli {
namespace {

using kube::testing::TroubledApiServer;

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

TEST(ParseRunFlags, TrustSourceNamespacesAreNamespaceNames) {
  EXPECT_TRUE(parseRunFlags({}).trustSourceNamespaces.empty());
  EXPECT_EQ(parseRunFlags({"--trust-source-namespaces", "corp-trust,pki"}).trustSourceNamespaces,
            (std::vector<std::string>{"corp-trust", "pki"}));
  try {
    parseRunFlags({"--trust-source-namespaces", "corp-trust,,Team_A"});
    FAIL() << "accepted";
  } catch (const probe::InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("\"\" is not a namespace name"));
  }
  EXPECT_THROW(parseRunFlags({"--trust-source-namespaces", "Team_A"}), probe::InputError);
}

TEST(NamespaceLookup, AnswersFromTheCacheWithoutAskingTheServer) {
  TroubledApiServer server("");
  kube::Client live(server.config(), namespaceLookupClientOptions());
  auto lookup = namespaceLookup(
      [](const std::string& ns) -> std::optional<webhook::PodNamespace> {
        return webhook::PodNamespace{ns, {{"team", "a"}}};
      },
      live);
  auto found = lookup("agents");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->labels.at("team"), "a");
  EXPECT_EQ(server.requests(), 0);
}

// The API server waits at most 5 s for the webhook; a namespace the cache does not hold yet is
// asked for once, never retried, within a deadline well under that.
TEST(NamespaceLookup, AnUncachedNamespaceIsOneBoundedRequestWithoutRetries) {
  auto options = namespaceLookupClientOptions();
  EXPECT_EQ(options.maxRetries, 0);
  EXPECT_LE(options.requestTimeout, std::chrono::milliseconds(2500));
  auto none = [](const std::string&) -> std::optional<webhook::PodNamespace> {
    return std::nullopt;
  };

  TroubledApiServer overloaded(TroubledApiServer::jsonAnswer("503 Service Unavailable", "{}"));
  kube::Client live(overloaded.config(), namespaceLookupClientOptions());
  EXPECT_THROW(namespaceLookup(none, live)("new-ns"), kube::ApiError);
  EXPECT_EQ(overloaded.requests(), 1) << "a 503 is not retried while the API server waits";

  TroubledApiServer silent("");
  kube::Client stuck(silent.config(), namespaceLookupClientOptions());
  EXPECT_THROW(namespaceLookup(none, stuck)("new-ns"), kube::TimeoutError);
  EXPECT_EQ(silent.requests(), 1);

  TroubledApiServer gone(TroubledApiServer::jsonAnswer("404 Not Found", "{}"));
  kube::Client answers(gone.config(), namespaceLookupClientOptions());
  EXPECT_EQ(namespaceLookup(none, answers)("deleted-ns"), std::nullopt);
}

// After SIGTERM the operator drains its work within the pod's grace period: a call waiting out
// the server's Retry-After (up to 30 s, five times) wakes at once and fails with that error.
TEST(ShutdownDrain, ARetryWaitWakesWhenRetriesStop) {
  TroubledApiServer throttling(
      "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 30\r\nContent-Type: application/json\r\n"
      "Content-Length: 2\r\nConnection: close\r\n\r\n{}");
  kube::Client client(throttling.config());
  auto call = std::async(std::launch::async, [&] {
    try {
      client.get(kube::resources::namespaces(), "", "agents");
    } catch (const kube::ApiError& e) {
      return std::string(e.what());
    }
    return std::string("answered");
  });
  while (throttling.requests() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  client.stopRetries();
  // Loose: the wait it cuts short is 30 s, and five of them.
  ASSERT_EQ(call.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_THAT(call.get(), HasSubstr("429"));
  EXPECT_EQ(throttling.requests(), 1);
}

}  // namespace
}  // namespace agentproxy::cli
