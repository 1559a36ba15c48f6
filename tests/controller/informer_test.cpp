#include "controller/informer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "kube/client.h"
#include "kube/troubled_api_server.h"
#include "runtime/logger.h"

namespace agentproxy::controller {
namespace {

using nlohmann::json;

json policyAsStored() {
  return json::parse(R"({
    "apiVersion": "agentproxy.io/v1alpha1", "kind": "ProxyPolicy",
    "metadata": {
      "name": "corp", "uid": "u-1", "resourceVersion": "42", "generation": 3,
      "labels": {"team": "edge"},
      "annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"agentproxy.io/v1alpha1\"}",
        "note": "kept"},
      "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update",
                         "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]
    },
    "spec": {"proxy": {"httpsProxy": "http://proxy:3128"}},
    "status": {"classification": "Supported"}
  })");
}

TEST(InformerTrim, WithoutBookkeepingDropsOnlyWhatTheApiServerKeepsForItself) {
  json stored = policyAsStored();
  json kept = Informer::withoutBookkeeping(stored);
  EXPECT_FALSE(kept["metadata"].contains("managedFields"));
  EXPECT_EQ(kept["metadata"]["annotations"], json({{"note", "kept"}}));
  // Everything else as it was.
  stored["metadata"].erase("managedFields");
  stored["metadata"]["annotations"].erase("kubectl.kubernetes.io/last-applied-configuration");
  EXPECT_EQ(kept, stored);
  // Objects without metadata or annotations pass through.
  EXPECT_EQ(Informer::withoutBookkeeping(json::object()), json::object());
  EXPECT_EQ(Informer::withoutBookkeeping({{"metadata", {{"name", "x"}}}}),
            json({{"metadata", {{"name", "x"}}}}));
}

TEST(InformerTrim, MetadataOnlyKeepsNoData) {
  json secret = {{"metadata", {{"name", "proxy-auth"}, {"resourceVersion", "7"}}},
                 {"data", {{"password", "aHVudGVyMg=="}}}};
  EXPECT_EQ(Informer::metadataOnly(secret), json({{"metadata", secret["metadata"]}}));
}

// A 410 Gone for the list itself (its continue token outlived a compaction) is not a reason to
// list again at once: against a server answering Gone to every list, the informer waits its
// backoff (1 s first) instead of spinning, and a stop wakes that wait.
TEST(InformerRun, AGoneListBacksOffInsteadOfListingAgainAtOnce) {
  const std::string status =
      R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired",)"
      R"("message":"The provided continue parameter is too old","code":410})";
  kube::testing::TroubledApiServer gone(
      kube::testing::TroubledApiServer::jsonAnswer("410 Gone", status));
  kube::ClientOptions options;
  options.maxRetries = 0;
  kube::Client client(gone.config(), options);
  std::ostringstream logs;
  runtime::Logger log(logs, runtime::LogLevel::Info);
  Informer informer(client, kube::resources::secrets(), {[](const json&) {}, [](const json&) {}},
                    log, Informer::metadataOnly, Informer::Fetch::kMetadataOnly);
  std::jthread running([&](std::stop_token stop) { informer.run(stop); });
  while (gone.requests() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // Spinning would list again hundreds of times in this while; the backoff waits 1 s.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  running.request_stop();
  running.join();  // the stop wakes the backoff wait
  EXPECT_LE(gone.requests(), 2);
  EXPECT_NE(logs.str().find("list expired, listing again after a pause"), std::string::npos)
      << logs.str();
  EXPECT_FALSE(informer.synced());
}

}  // namespace
}  // namespace agentproxy::controller
