// Leases, Events and timestamps: the JSON they make, without a server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kube/client.h"
#include "kube/event_recorder.h"
#include "kube/lease.h"
#include "kube/timestamps.h"

namespace agentproxy::kube {
namespace {

using std::chrono::system_clock;

TEST(TimestampsTest, FormatsAndParsesKubernetesTimes) {
  auto t = system_clock::from_time_t(1795000000) + std::chrono::microseconds(123456);
  EXPECT_EQ(formatTime(t), "2026-11-18T11:06:40Z");
  EXPECT_EQ(formatMicroTime(t), "2026-11-18T11:06:40.123456Z");
  EXPECT_EQ(parseTime("2026-11-18T11:06:40.123456Z"), t);
  EXPECT_EQ(parseTime("2026-11-18T11:06:40Z"), system_clock::from_time_t(1795000000));
  EXPECT_EQ(parseTime("2026-11-18T12:06:40.123456789+01:00"), t);
  EXPECT_FALSE(parseTime("2026-11-18 11:06:40"));
  EXPECT_FALSE(parseTime("2026-13-18T11:06:40Z"));
  EXPECT_FALSE(parseTime("2026-11-18T11:06:40Zjunk"));
}

TEST(LeaseTest, JsonRoundTrip) {
  Lease lease;
  lease.ns = "agentproxy-system";
  lease.name = "agentproxy-leader";
  lease.resourceVersion = "42";
  lease.holderIdentity = "pod-a";
  lease.leaseDurationSeconds = 15;
  lease.acquireTime = system_clock::from_time_t(1795000000) + std::chrono::microseconds(5);
  lease.renewTime = system_clock::from_time_t(1795000010);
  lease.leaseTransitions = 3;
  nlohmann::json json = leaseToJson(lease);
  EXPECT_EQ(json["apiVersion"], "coordination.k8s.io/v1");
  EXPECT_EQ(json["kind"], "Lease");
  EXPECT_EQ(json["spec"]["renewTime"], "2026-11-18T11:06:50.000000Z");
  EXPECT_EQ(json["metadata"]["resourceVersion"], "42");
  Lease back = leaseFromJson(json);
  EXPECT_EQ(back.ns, lease.ns);
  EXPECT_EQ(back.name, lease.name);
  EXPECT_EQ(back.resourceVersion, "42");
  EXPECT_EQ(back.holderIdentity, "pod-a");
  EXPECT_EQ(back.leaseDurationSeconds, 15);
  EXPECT_EQ(back.acquireTime, lease.acquireTime);
  EXPECT_EQ(back.renewTime, lease.renewTime);
  EXPECT_EQ(back.leaseTransitions, 3);
  EXPECT_THROW(leaseFromJson(nlohmann::json::parse(
                   R"({"metadata":{"name":"x"},"spec":{"renewTime":"yesterday"}})")),
               KubeError);
}

TEST(EventRecorderTest, MakesACoreV1Event) {
  Config config;
  config.server = "https://127.0.0.1:1";
  Client client(config);
  auto now = system_clock::from_time_t(1795000000);
  EventRecorder recorder(client, "agentproxy", [now] { return now; });
  nlohmann::json policy = nlohmann::json::parse(R"({
      "apiVersion": "agentproxy.io/v1alpha1", "kind": "ProxyPolicy",
      "metadata": {"name": "corp", "uid": "u-1", "resourceVersion": "7"}})");
  nlohmann::json event = recorder.makeEvent(policy, EventType::kWarning, "ClassificationChanged",
                                            "Supported -> Unsupported", "corp.1", now);
  EXPECT_EQ(event["metadata"]["namespace"], "default") << "cluster-scoped objects";
  EXPECT_EQ(event["involvedObject"]["kind"], "ProxyPolicy");
  EXPECT_EQ(event["involvedObject"]["apiVersion"], "agentproxy.io/v1alpha1");
  EXPECT_EQ(event["involvedObject"]["uid"], "u-1");
  EXPECT_FALSE(event["involvedObject"].contains("namespace"));
  EXPECT_EQ(event["type"], "Warning");
  EXPECT_EQ(event["reason"], "ClassificationChanged");
  EXPECT_EQ(event["count"], 1);
  EXPECT_EQ(event["firstTimestamp"], "2026-11-18T11:06:40Z");
  EXPECT_EQ(event["lastTimestamp"], "2026-11-18T11:06:40Z");
  EXPECT_EQ(event["source"]["component"], "agentproxy");
}

}  // namespace
}  // namespace agentproxy::kube
