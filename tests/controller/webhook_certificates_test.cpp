// The webhook's serving certificate when two replicas renew it at once, against a stand-in API
// server on 127.0.0.1 whose Secret always needs renewing and whose every write is a Conflict.
#include "controller/webhook_certificates.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <sstream>
#include <string>
#include <thread>

#include "kube/client.h"
#include "kube/troubled_api_server.h"
#include "runtime/logger.h"

namespace agentproxy::controller {
namespace {

using kube::testing::TroubledApiServer;

// The replica whose renewal loses to another's (409 Conflict on the write) serves nothing it did
// not store, and reads the Secret again instead of waiting for the next check. The Secret
// informer pokes it from another thread meanwhile, as it does when the other replica's write
// arrives: under ThreadSanitizer (scripts/tsan.sh) this test is also the proof that poke() and
// the conflict path share the wake-up flag safely (the conflict path used to write it unlocked).
TEST(WebhookCertificatesRun, ARenewalLostToAnotherReplicaIsNeverServedAndTheSecretIsReadAgain) {
  const std::string path = "/api/v1/namespaces/agentproxy-system/secrets/agentproxy-webhook-tls";
  std::atomic<int> reads{0}, writes{0};
  TroubledApiServer server([&](const std::string& head) {
    if (head.rfind("GET " + path + " ", 0) == 0) {
      ++reads;
      // Stored by "the other replica" with no serving certificate yet: due for renewal.
      return TroubledApiServer::jsonAnswer("200 OK",
                    R"({"kind":"Secret","apiVersion":"v1","metadata":{"name":"agentproxy-webhook-tls",)"
                    R"("namespace":"agentproxy-system","resourceVersion":")" +
                        std::to_string(reads.load()) + R"("},"data":{}})");
    }
    if (head.rfind("PUT " + path + " ", 0) == 0) {
      ++writes;
      return TroubledApiServer::jsonAnswer("409 Conflict",
                    R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Conflict",)"
                    R"("message":"the object has been modified","code":409})");
    }
    return TroubledApiServer::jsonAnswer("404 Not Found",
                  R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound",)"
                  R"("message":"not found","code":404})");
  });
  kube::ClientOptions clientOptions;
  clientOptions.maxRetries = 0;
  kube::Client client(server.config(), clientOptions);
  std::ostringstream logs;
  runtime::Logger log(logs, runtime::LogLevel::Debug);
  WebhookCertificateOptions options;
  options.dnsNames = serviceDnsNames("agentproxy-webhook", "agentproxy-system");
  options.checkInterval = std::chrono::hours(1);
  std::atomic<int> served{0};
  WebhookCertificates certificates(client, log, options,
                                   [&](const std::string&, const std::string&) { ++served; });
  certificates.start();
  certificates.setLeader(true);
  // Only a guard against a hang: each round is a read, a new CA and a refused write.
  const auto giveUp = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (writes < 5 && std::chrono::steady_clock::now() < giveUp) {
    certificates.poke();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  certificates.stop();

  EXPECT_GE(writes.load(), 5) << logs.str();
  EXPECT_GE(reads.load(), writes.load()) << "every renewal starts from a fresh read";
  EXPECT_EQ(served.load(), 0) << "a certificate that was never stored must not be served";
  EXPECT_FALSE(certificates.ready());
  EXPECT_EQ(logs.str().find("PRIVATE KEY"), std::string::npos) << logs.str();
}

}  // namespace
}  // namespace agentproxy::controller
