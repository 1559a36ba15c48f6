// Reconcile against fakes of the cluster and the probe: what gets written, when, and what never
// does.
#include "controller/reconciler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "probe/classify.h"

namespace agentproxy::controller {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

struct FakeCluster : ObjectReader {
  std::map<std::string, json> secrets, configMaps;
  std::optional<json> secret(const std::string& ns, const std::string& name) override {
    auto it = secrets.find(ns + "/" + name);
    return it == secrets.end() ? std::nullopt : std::optional<json>(it->second);
  }
  std::optional<json> configMap(const std::string& ns, const std::string& name) override {
    auto it = configMaps.find(ns + "/" + name);
    return it == configMaps.end() ? std::nullopt : std::optional<json>(it->second);
  }
};

struct Recorded {
  bool warning;
  std::string reason, message;
};

struct FakeWriter : StatusWriter {
  std::vector<json> writes;
  std::vector<Recorded> events;
  void writeStatus(const json&, const json& status) override { writes.push_back(status); }
  void recordEvent(const json&, bool warning, const std::string& reason,
                   const std::string& message) override {
    events.push_back({warning, reason, message});
  }
};

// A probe that answers from a table keyed by proxy host, and lets the test wait for it.
class FakeProbe {
 public:
  probe::ProbeReport operator()(const probe::ProbeRequest& request) {
    std::lock_guard lock(mutex_);
    requests.push_back(request);
    probe::ProbeReport report;
    report.proxy = request.proxy.redacted();
    for (const auto& t : request.targets) {
      probe::TargetReport r;
      r.address = t.address.hostPort();
      if (request.proxy.host == "squid-bump") {
        r.tunnel = probe::TunnelState::Established;
        r.tlsHandshakeDone = r.tlsIntercepted = r.interceptorTrusted = true;
        r.proxyServer = "squid/5.7";
        r.grpc = "UNAVAILABLE: Cannot check peer: missing selected ALPN property.";
      } else {
        r.tunnel = probe::TunnelState::Established;
        r.tlsHandshakeDone = r.grpcWorks = true;
        r.alpn = "h2";
        r.grpc = "OK";
      }
      report.targets.push_back(r);
    }
    probe::classifyReport(report, request.proxy.hostPort());
    return report;
  }
  std::vector<probe::ProbeRequest> requests;

 private:
  std::mutex mutex_;
};

class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerTest()
      : scheduler_([this](const probe::ProbeRequest& r) { return probe_(r); }, 2,
                   [this](const std::string&) {
                     std::lock_guard lock(mutex_);
                     ++done_;
                     cv_.notify_all();
                   }),
        reconciler_(cluster_, writer_, scheduler_, {"10.96.0.1", {}, {}},
                    [] { return std::string("2026-11-27T10:00:00Z"); }) {}

  static json policy(const std::string& proxyHost = "proxy.corp", int64_t generation = 1) {
    return json{{"apiVersion", "agentproxy.io/v1alpha1"},
                {"kind", "ProxyPolicy"},
                {"metadata", {{"name", "corp-proxy"}, {"generation", generation}}},
                {"spec",
                 {{"proxy",
                   {{"httpsProxy", "http://" + proxyHost + ":3128"},
                    {"noProxy", {"10.20.0.0/16"}},
                    {"credentialsSecretRef",
                     {{"namespace", "agentproxy-system"}, {"name", "proxy-auth"}}}}},
                  {"targets", {{{"address", "api.mgmt.example.com:443"}}}}}}};
  }

  void addCredentials() {
    // username "agent", password "hunter2" (base64, as the API server returns Secret data)
    cluster_.secrets["agentproxy-system/proxy-auth"] = {
        {"data", {{"username", "YWdlbnQ="}, {"password", "aHVudGVyMg=="}}}};
  }

  void waitForProbes(int count) {
    std::unique_lock lock(mutex_);
    ASSERT_TRUE(cv_.wait_for(lock, std::chrono::seconds(5), [&] { return done_ >= count; }));
  }

  // Applies the last written status to the object, as the API server would.
  static json withStatus(json object, const FakeWriter& writer) {
    if (!writer.writes.empty()) object["status"] = writer.writes.back();
    return object;
  }

  FakeCluster cluster_;
  FakeWriter writer_;
  FakeProbe probe_;
  std::mutex mutex_;
  std::condition_variable cv_;
  int done_ = 0;
  ProbeScheduler scheduler_;
  Reconciler reconciler_;
};

TEST_F(ReconcilerTest, ProbesThenWritesOnceAndThenNothing) {
  addCredentials();
  auto object = policy();
  auto first = reconciler_.reconcile(object);
  EXPECT_FALSE(first.wroteStatus);  // nothing to say before the probe has run
  waitForProbes(1);

  auto second = reconciler_.reconcile(object);
  ASSERT_TRUE(second.wroteStatus);
  ASSERT_EQ(writer_.writes.size(), 1u);
  const auto& status = writer_.writes[0];
  EXPECT_EQ(status["classification"], "Supported");
  EXPECT_EQ(status["observedGeneration"], 1);
  EXPECT_THAT(status["effectiveNoProxy"].get<std::string>(), HasSubstr("10.96.0.1"));
  EXPECT_THAT(status["warnings"][0].get<std::string>(), HasSubstr("10.20.0.0/16 is a CIDR"));
  ASSERT_EQ(writer_.events.size(), 1u);
  EXPECT_EQ(writer_.events[0].reason, "Supported");
  EXPECT_FALSE(writer_.events[0].warning);
  ASSERT_TRUE(second.requeueAfter);
  EXPECT_GE(*second.requeueAfter, std::chrono::minutes(4));  // the 5m interval, less elapsed

  auto third = reconciler_.reconcile(withStatus(object, writer_));
  EXPECT_FALSE(third.wroteStatus);
  EXPECT_EQ(writer_.writes.size(), 1u);
  EXPECT_EQ(probe_.requests.size(), 1u);  // not due yet: no second probe
}

TEST_F(ReconcilerTest, CredentialsComeFromTheSecretAndAreNeverWritten) {
  addCredentials();
  reconciler_.reconcile(policy());
  waitForProbes(1);
  reconciler_.reconcile(policy());
  ASSERT_EQ(probe_.requests.size(), 1u);
  EXPECT_EQ(probe_.requests[0].proxy.username, "agent");
  EXPECT_EQ(probe_.requests[0].proxy.password, "hunter2");
  ASSERT_FALSE(writer_.writes.empty());
  EXPECT_THAT(writer_.writes.back().dump(), Not(HasSubstr("hunter2")));
  for (const auto& e : writer_.events) EXPECT_THAT(e.message, Not(HasSubstr("hunter2")));
}

TEST_F(ReconcilerTest, MissingSecretIsSpecValidFalseWithoutARetryStorm) {
  auto object = policy();
  auto r = reconciler_.reconcile(object);
  ASSERT_TRUE(r.wroteStatus);
  ASSERT_TRUE(r.requeueAfter);
  EXPECT_EQ(*r.requeueAfter, Reconciler::kReferenceRecheck);
  const auto& status = writer_.writes.back();
  EXPECT_EQ(status["classification"], "Unknown");
  bool found = false;
  for (const auto& c : status["conditions"]) {
    if (c["type"] == "SpecValid") {
      found = true;
      EXPECT_EQ(c["status"], "False");
      EXPECT_EQ(c["reason"], "SecretNotFound");
      EXPECT_THAT(c["message"].get<std::string>(), HasSubstr("agentproxy-system/proxy-auth"));
    }
  }
  EXPECT_TRUE(found);
  EXPECT_TRUE(probe_.requests.empty());

  // Looking again finds the same: nothing written.
  reconciler_.reconcile(withStatus(object, writer_));
  EXPECT_EQ(writer_.writes.size(), 1u);

  // The Secret appears: the next re-check probes and the policy becomes Supported.
  addCredentials();
  reconciler_.reconcile(withStatus(object, writer_));
  waitForProbes(1);
  reconciler_.reconcile(withStatus(object, writer_));
  EXPECT_EQ(writer_.writes.back()["classification"], "Supported");
}

TEST_F(ReconcilerTest, SpecChangeReprobesAndAClassificationChangeIsAWarningEvent) {
  addCredentials();
  reconciler_.reconcile(policy());
  waitForProbes(1);
  reconciler_.reconcile(policy());
  ASSERT_EQ(writer_.writes.back()["classification"], "Supported");

  auto switched = withStatus(policy("squid-bump", 2), writer_);
  auto r = reconciler_.reconcile(switched);
  EXPECT_FALSE(r.wroteStatus);  // the old probe describes the old proxy: wait for the new one
  waitForProbes(2);
  reconciler_.reconcile(switched);
  const auto& status = writer_.writes.back();
  EXPECT_EQ(status["classification"], "Unsupported");
  EXPECT_EQ(status["observedGeneration"], 2);
  ASSERT_EQ(writer_.events.size(), 2u);
  EXPECT_TRUE(writer_.events[1].warning);
  EXPECT_EQ(writer_.events[1].reason, "Unsupported");
  EXPECT_THAT(writer_.events[1].message, HasSubstr("from Supported to Unsupported"));
  EXPECT_THAT(writer_.events[1].message, HasSubstr("ssl_bump splice"));
}

TEST_F(ReconcilerTest, InvalidSpecSaysWhichField) {
  auto object = policy();
  object["spec"]["targets"][0]["address"] = "no-port.example.com";
  auto r = reconciler_.reconcile(object);
  EXPECT_TRUE(r.wroteStatus);
  EXPECT_FALSE(r.requeueAfter);  // only a spec change can fix it, and that is an event
  auto dump = writer_.writes.back().dump();
  EXPECT_THAT(dump, HasSubstr("InvalidSpec"));
  EXPECT_THAT(dump, HasSubstr("spec.targets[0].address"));
}

TEST(Jitter, StablePerPolicyAndWithinTenPercent) {
  auto a = Reconciler::jittered(std::chrono::minutes(5), "a");
  EXPECT_EQ(a, Reconciler::jittered(std::chrono::minutes(5), "a"));
  EXPECT_GE(a, std::chrono::minutes(5));
  EXPECT_LE(a, std::chrono::milliseconds(330'000));
}

}  // namespace
}  // namespace agentproxy::controller
