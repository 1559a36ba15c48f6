// Reconcile against fakes of the cluster and the probe: what gets written, when, and what never
// does.
#include "controller/reconciler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <sstream>

#include "encoding/encoding.h"
#include "probe/classify.h"
#include "trust/ca_bundle.h"
#include "trust/serving_certificate.h"
#include "injection/pod_injection.h"

namespace agentproxy::controller {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

// A self-signed CA (PEM), valid from `now` - 5 minutes for `validity`.
std::string newCaPem(std::chrono::system_clock::time_point now = std::chrono::system_clock::now(),
                     std::chrono::seconds validity = std::chrono::years{5}) {
  trust::CertificateRequest request;
  request.dnsNames = {"ca-test.example"};
  request.now = now;
  request.caValidity = validity;
  request.certValidity = validity;
  return trust::createWebhookCertificates(request).caCertPem;
}

// The test CAs, made once: two stand for the image's system bundle (not the 200 KB file).
struct TestCas {
  std::string system1 = newCaPem(), system2 = newCaPem();
  std::string corp = newCaPem(), corp2 = newCaPem();
  // Valid for a day in 2020.
  std::string expired =
      newCaPem(std::chrono::system_clock::from_time_t(1577836800), std::chrono::hours(24));
  std::string systemPem = "# test system bundle\n" + system1 + system2;
};
const TestCas& testCas() {
  static const TestCas cas;
  return cas;
}

// The base64 body lines of a PEM block: a certificate is in a bundle when they all are.
bool bundleHolds(const std::string& bundle, const std::string& pem) {
  std::istringstream in(pem);
  int lines = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line.rfind("-----", 0) == 0) continue;
    if (bundle.find(line) == std::string::npos) return false;
    ++lines;
  }
  return lines > 0;
}

int countOf(const std::string& text, std::string_view what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

struct FakeCluster : ObjectReader {
  std::map<std::string, json> secrets, configMaps;
  std::vector<std::string> reads;  // "ns/name" of every Secret read
  std::optional<json> secret(const std::string& ns, const std::string& name) override {
    reads.push_back(ns + "/" + name);
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
      if (request.proxy.host == "echoing-proxy") {
        // A proxy whose error page repeats what it was sent, credentials included.
        const auto& proxy = request.proxy;
        r.tunnel = probe::TunnelState::Refused;
        r.proxyServer = "echo/1.0 " + proxy.password;
        r.grpc = "UNAVAILABLE: HTTP proxy returned 403 for Proxy-Authorization: Basic " +
                 encoding::base64Encode(proxy.username + ":" + proxy.password) + " (user " +
                 proxy.username + ", password " + proxy.password + ", in a URL " +
                 encoding::percentEncode(proxy.password) + ")";
      } else if (request.proxy.host == "squid-bump") {
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
  size_t started() {
    std::lock_guard lock(mutex_);
    return requests.size();
  }
  std::vector<probe::ProbeRequest> requests;

 private:
  std::mutex mutex_;
};

struct StoredCopy {
  std::string policy;  // the policy named by the copy's annotation
  CopyObject copy;
};

struct RestartCall {
  ObjectRef owner;
  std::string hash, now;
};

// The cluster as injection sees it, in memory: namespaces, pods, the operator's copies and the
// workloads' pod templates. Writes land in the same maps, so the next reconcile sees them, as
// it would through the informers.
struct FakeInjectionWorld : InjectionWorld {
  std::map<std::string, std::map<std::string, std::string>> namespaces;  // name -> labels
  std::map<std::string, std::vector<json>> pods;                         // namespace -> pods
  std::vector<json> policyObjects;  // every ProxyPolicy: the competition for each pod
  std::map<ObjectRef, StoredCopy> copies;
  std::set<ObjectRef> foreign;  // objects of copies' names the operator does not manage
  std::vector<CopyObject> written;
  std::vector<ObjectRef> deleted;
  // "namespace/replicaset" -> the Deployment that controls it.
  std::map<std::string, std::string> deploymentOf;
  // Workload -> the injection hash its pod template records (kRestartedForAnnotation).
  std::map<ObjectRef, std::string> restartedFor;
  std::vector<RestartCall> restarts;
  std::string systemPem = testCas().systemPem;

  // The copy as the metadata-only informer keeps it (ClientInjectionWriter::writeCopy's
  // labels and annotations, plus the kind PolicyController adds).
  static json informerView(const StoredCopy& stored) {
    return {{"kind", stored.copy.ref.kind},
            {"metadata",
             {{"name", stored.copy.ref.name},
              {"namespace", stored.copy.ref.namespace_},
              {"labels", {{kManagedByLabel, kManagedByValue}}},
              {"annotations",
               {{kCopyOfAnnotation, stored.policy},
                {kContentHashAnnotation, stored.copy.contentHash}}}}}};
  }

  InjectionInputs inputs(const std::string& policyName) override {
    InjectionInputs in;
    for (const auto& [name, labels] : namespaces) in.namespaces.push_back({name, labels});
    in.podsIn = [this](const std::string& ns) {
      auto it = pods.find(ns);
      return it == pods.end() ? std::vector<json>{} : it->second;
    };
    in.policies = [this] {
      auto all = std::make_shared<std::vector<policy::ProxyPolicy>>();
      for (const auto& object : policyObjects) {
        try {
          all->push_back(policy::parseProxyPolicy(object));
        } catch (const policy::SpecError&) {
        }
      }
      return PolicySnapshot(std::move(all));
    };
    for (const auto& [ref, stored] : copies) {
      if (stored.policy == policyName) in.copies.push_back(informerView(stored));
    }
    in.operatorNamespace = "agentproxy-system";
    in.credentialsKey = "the fake operator's key";
    return in;
  }

  void writeCopy(const json& policy, const CopyObject& copy) override {
    if (foreign.count(copy.ref)) throw CopyConflict(copy.ref);  // as ClientInjectionWriter
    copies[copy.ref] = {policy.value("/metadata/name"_json_pointer, std::string()), copy};
    written.push_back(copy);
  }

  void deleteCopy(const ObjectRef& copy) override {
    copies.erase(copy);
    deleted.push_back(copy);
  }

  // As ClientInjectionWriter: a ReplicaSet's Deployment, a StatefulSet or a DaemonSet, unless its
  // template already records the hash.
  std::optional<ObjectRef> restartWorkload(const ObjectRef& owner, const std::string& hash,
                                           const std::string& now) override {
    restarts.push_back({owner, hash, now});
    ObjectRef workload = owner;
    if (owner.kind == "ReplicaSet") {
      auto it = deploymentOf.find(owner.namespace_ + "/" + owner.name);
      if (it == deploymentOf.end()) return std::nullopt;  // a bare ReplicaSet
      workload = {"Deployment", owner.namespace_, it->second};
    } else if (owner.kind != "StatefulSet" && owner.kind != "DaemonSet") {
      return std::nullopt;
    }
    auto& recorded = restartedFor[workload];
    if (recorded == hash) return std::nullopt;
    recorded = hash;
    return workload;
  }

  const std::string& systemCaPem() override { return systemPem; }

  const CopyObject* copy(const std::string& kind, const std::string& ns,
                         const std::string& name) const {
    auto it = copies.find({kind, ns, name});
    return it == copies.end() ? nullptr : &it->second.copy;
  }
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
        reconciler_(cluster_, writer_, scheduler_, world_, kCluster,
                    [] { return std::string("2026-11-27T10:00:00Z"); },
                    {"agentproxy-system", "corp-trust"}, redactor_) {}

  static inline const policy::ClusterNetwork kCluster{"10.96.0.1", {}, {}};

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

  runtime::Redactor redactor_;
  FakeCluster cluster_;
  FakeWriter writer_;
  FakeProbe probe_;
  std::mutex mutex_;
  std::condition_variable cv_;
  int done_ = 0;
  ProbeScheduler scheduler_;
  FakeInjectionWorld world_;
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

// The redactor is wired: the credentials are registered as soon as they are read, and a proxy
// answer that repeats them reaches neither status nor Events, in any of their forms.
TEST_F(ReconcilerTest, CredentialsAProxyEchoesAreMaskedInStatusAndEvents) {
  addCredentials();
  auto object = policy("echoing-proxy");
  reconciler_.reconcile(object);
  waitForProbes(1);
  reconciler_.reconcile(withStatus(object, writer_));
  ASSERT_FALSE(writer_.writes.empty());
  ASSERT_FALSE(writer_.events.empty());
  const std::string forms[] = {"hunter2", encoding::base64Encode("hunter2"),
                               encoding::base64Encode("agent:hunter2")};
  for (const auto& status : writer_.writes) {
    auto text = status.dump();
    for (const auto& form : forms) EXPECT_THAT(text, Not(HasSubstr(form))) << text;
    EXPECT_THAT(text, HasSubstr("***"));
  }
  for (const auto& e : writer_.events) {
    for (const auto& form : forms) EXPECT_THAT(e.message, Not(HasSubstr(form))) << e.message;
  }
  EXPECT_EQ(redactor_.redact("p=hunter2"), "p=***");
  // Writing status again changes nothing: the redacted status is what is compared.
  auto writes = writer_.writes.size();
  reconciler_.reconcile(withStatus(object, writer_));
  EXPECT_EQ(writer_.writes.size(), writes);
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

// No confused deputy: a policy cannot make the operator read (and copy) a Secret of a namespace
// its author chose; only the operator's own and the chart's trust source namespaces are read.
TEST_F(ReconcilerTest, AReferenceOutsideTheTrustedNamespacesIsSpecInvalidAndNothingIsRead) {
  cluster_.secrets["team-a/their-db-password"] = {
      {"data", {{"username", "YWdlbnQ="}, {"password", "aHVudGVyMg=="}}}};
  auto object = policy();
  object["spec"]["proxy"]["credentialsSecretRef"] = {{"namespace", "team-a"},
                                                     {"name", "their-db-password"}};
  auto r = reconciler_.reconcile(object);
  ASSERT_TRUE(r.wroteStatus);
  EXPECT_TRUE(cluster_.reads.empty()) << "read " << cluster_.reads[0];
  EXPECT_TRUE(probe_.requests.empty());
  EXPECT_TRUE(world_.written.empty());
  bool found = false;
  for (const auto& c : writer_.writes.back()["conditions"]) {
    if (c["type"] != "SpecValid") continue;
    found = true;
    EXPECT_EQ(c["status"], "False");
    EXPECT_EQ(c["reason"], "SourceNamespaceNotTrusted");
    auto message = c["message"].get<std::string>();
    EXPECT_THAT(message, HasSubstr("spec.proxy.credentialsSecretRef names Secret "
                                   "team-a/their-db-password"));
    EXPECT_THAT(message, HasSubstr("namespaces agentproxy-system and corp-trust"));
    EXPECT_THAT(message, HasSubstr("trustSources.namespaces"));
  }
  EXPECT_TRUE(found);

  // A CA in a trust source namespace the chart lists is read; one elsewhere is refused by name.
  addCredentials();
  object = policy();
  object["spec"]["trust"] = {
      {"caBundles",
       {{{"configMapRef", {{"namespace", "corp-trust"}, {"name", "corp-ca"}, {"key", "ca.crt"}}}},
        {{"secretRef", {{"namespace", "kube-system"}, {"name", "ca"}, {"key", "ca.crt"}}}}}}};
  reconciler_.reconcile(object);
  auto last = writer_.writes.back();
  for (const auto& c : last["conditions"]) {
    if (c["type"] != "SpecValid") continue;
    EXPECT_EQ(c["reason"], "SourceNamespaceNotTrusted");
    EXPECT_THAT(c["message"].get<std::string>(),
                HasSubstr("spec.trust.caBundles[1] names Secret kube-system/ca"));
  }
  EXPECT_TRUE(cluster_.reads.empty());
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

// Injection: a policy that selects the namespace `agents` by label, trusts a corporate CA from a
// ConfigMap, and authenticates with a password full of URL-reserved characters.
class InjectionReconcileTest : public ReconcilerTest {
 protected:
  static constexpr const char* kUser = "corp\\agent";
  static constexpr const char* kPassword = "p@ss:w/rd%41";
  static constexpr const char* kCorpCaOrigin = "ConfigMap agentproxy-system/corp-ca key ca.crt";

  InjectionReconcileTest() {
    cluster_.secrets["agentproxy-system/proxy-auth"] = {
        {"data",
         {{"username", encoding::base64Encode(kUser)},
          {"password", encoding::base64Encode(kPassword)}}}};
    setCorpCa(testCas().corp);
    world_.namespaces["agents"] = {{"agentproxy.io/inject", "enabled"},
                                   {"kubernetes.io/metadata.name", "agents"}};
    world_.namespaces["default"] = {{"kubernetes.io/metadata.name", "default"}};
    // Excluded whatever their labels say.
    world_.namespaces["kube-system"] = {{"agentproxy.io/inject", "enabled"}};
    world_.namespaces["agentproxy-system"] = {{"agentproxy.io/inject", "enabled"}};
  }

  void setCorpCa(const std::string& pem) {
    cluster_.configMaps["agentproxy-system/corp-ca"] = {{"data", {{"ca.crt", pem}}}};
  }

  static json injectingPolicy(const json& extraSpec = json::object(), int64_t generation = 1) {
    json object = policy("proxy.corp", generation);
    object["metadata"]["uid"] = "3f1c2a9e-policy-uid";
    object["spec"]["selector"] = {
        {"namespaceSelector", {{"matchLabels", {{"agentproxy.io/inject", "enabled"}}}}}};
    object["spec"]["trust"] = {
        {"caBundles",
         {{{"configMapRef",
            {{"namespace", "agentproxy-system"}, {"name", "corp-ca"}, {"key", "ca.crt"}}}}}}};
    object["spec"].merge_patch(extraSpec);
    return object;
  }

  // Reconciles as the work queue would until the probe of the current spec is in (its
  // completion requeues the policy); `object` then carries the status written.
  ReconcileResult settle(json& object) {
    world_.policyObjects = {object};
    const size_t before = probe_.started();
    auto result = reconciler_.reconcile(object);
    {
      // Until no probe is queued or running and every one started has reported back.
      std::unique_lock lock(mutex_);
      EXPECT_TRUE(cv_.wait_for(lock, std::chrono::seconds(5), [&] {
        return !scheduler_.pending("corp-proxy") && static_cast<size_t>(done_) == probe_.started();
      }));
    }
    if (probe_.started() > before) result = reconciler_.reconcile(object);
    object = withStatus(object, writer_);
    return result;
  }

  // The hash the webhook stamps on a pod it injects with this policy (admitPod: the policy's
  // status.caBundleHash as the webhook's cache holds it).
  static std::string webhookHash(const json& object) {
    return injection::injectionHash(injection::injectionForPolicy(
        policy::parseProxyPolicy(object), kCluster,
        object.value("/status/caBundleHash"_json_pointer, std::string())));
  }

  // A pod of a Deployment's ReplicaSet, as the pods informer keeps it; injected when `hash` is
  // set.
  static json agentPod(const std::string& name, const std::string& replicaSet,
                       const std::string& hash = "", const std::string& ns = "agents") {
    json pod = {
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata",
         {{"name", name},
          {"namespace", ns},
          {"labels", {{"app", "agent"}}},
          {"annotations", json::object()},
          {"ownerReferences",
           {{{"apiVersion", "apps/v1"},
             {"kind", "ReplicaSet"},
             {"name", replicaSet},
             {"uid", "uid-" + replicaSet},
             {"controller", true},
             {"blockOwnerDeletion", true}}}}}},
        {"spec", {{"containers", {{{"name", "agent"}, {"image", "registry.example/agent:2.4"}}}}}}};
    if (!hash.empty()) {
      pod["metadata"]["annotations"][std::string(injection::kPolicyAnnotation)] = "corp-proxy";
      pod["metadata"]["annotations"][std::string(injection::kHashAnnotation)] = hash;
    }
    return pod;
  }

  static json conditionOf(const json& status, const std::string& type) {
    auto it = status.find("conditions");
    if (it != status.end() && it->is_array()) {
      for (const auto& c : *it) {
        if (c.value("type", "") == type) return c;
      }
    }
    const json kMissing = json::object();
    ADD_FAILURE() << "no condition " << type << " in " << status.dump();
    return kMissing;
  }

  // The password, raw or in any encoding it takes on its way to the copy, is in no status and
  // no event.
  void expectPasswordNowhere() {
    const std::string forms[] = {kPassword, encoding::percentEncode(kPassword),
                                 encoding::base64Encode(kPassword)};
    for (const auto& status : writer_.writes) {
      for (const auto& form : forms) EXPECT_THAT(status.dump(), Not(HasSubstr(form)));
    }
    for (const auto& e : writer_.events) {
      for (const auto& form : forms) EXPECT_THAT(e.message, Not(HasSubstr(form)));
    }
  }
};

TEST_F(InjectionReconcileTest, SelectedNamespaceGetsTheBundleAndEncodedCredentialsOnce) {
  auto object = injectingPolicy();
  world_.policyObjects = {object};
  reconciler_.reconcile(object);

  ASSERT_EQ(world_.written.size(), 2u);
  const auto* ca = world_.copy("ConfigMap", "agents", "agentproxy-ca-corp-proxy");
  ASSERT_NE(ca, nullptr);
  ASSERT_EQ(ca->data.size(), 1u);
  ASSERT_EQ(ca->data.count("ca-bundle.crt"), 1u);
  const std::string& bundle = ca->data.at("ca-bundle.crt");
  EXPECT_EQ(countOf(bundle, "-----BEGIN CERTIFICATE-----"), 3);
  EXPECT_TRUE(bundleHolds(bundle, testCas().system1));  // direct connections keep working
  EXPECT_TRUE(bundleHolds(bundle, testCas().system2));
  EXPECT_TRUE(bundleHolds(bundle, testCas().corp));

  const auto* secret = world_.copy("Secret", "agents", "agentproxy-proxy-corp-proxy");
  ASSERT_NE(secret, nullptr);
  EXPECT_EQ(secret->data, (std::map<std::string, std::string>{
                              {"username", "corp%5Cagent"}, {"password", "p%40ss%3Aw%2Frd%2541"}}));
  // Unselected and excluded namespaces get nothing.
  for (const char* ns : {"default", "kube-system", "agentproxy-system"}) {
    EXPECT_EQ(world_.copy("ConfigMap", ns, "agentproxy-ca-corp-proxy"), nullptr) << ns;
    EXPECT_EQ(world_.copy("Secret", ns, "agentproxy-proxy-corp-proxy"), nullptr) << ns;
  }

  // The probe's completion requeues the policy: the copies are in place, nothing is rewritten.
  settle(object);
  EXPECT_EQ(world_.written.size(), 2u);
  EXPECT_TRUE(world_.deleted.empty());
  const auto& status = object["status"];
  // status.caBundleHash is the hash of what the ConfigMap holds, and of the merged set alone.
  EXPECT_EQ(status["caBundleHash"], "sha256:" + encoding::sha256Hex(bundle));
  EXPECT_EQ(status["caBundleHash"],
            trust::mergeCaBundle(testCas().systemPem, {{"any origin", testCas().corp}},
                                 std::chrono::system_clock::now())
                .hash);
  EXPECT_EQ(status["injectedPods"], 0);
  EXPECT_EQ(status["stalePods"], 0);
  auto ready = conditionOf(status, "InjectionReady");
  EXPECT_EQ(ready["status"], "True");
  EXPECT_EQ(ready["reason"], "InjectionCurrent");
  EXPECT_THAT(ready["message"].get<std::string>(), HasSubstr("1 namespace"));

  reconciler_.reconcile(object);
  EXPECT_EQ(world_.written.size(), 2u);
  expectPasswordNowhere();
}

// An object someone else made under a copy's name is never taken over: the policy says so, the
// other copies are kept, and once it is gone the copy is written.
TEST_F(InjectionReconcileTest, AnUnmanagedObjectOfACopysNameIsAConflictAndLeftAlone) {
  auto object = injectingPolicy();
  world_.policyObjects = {object};
  world_.foreign.insert({"Secret", "agents", "agentproxy-proxy-corp-proxy"});
  settle(object);
  EXPECT_EQ(world_.copy("Secret", "agents", "agentproxy-proxy-corp-proxy"), nullptr);
  EXPECT_NE(world_.copy("ConfigMap", "agents", "agentproxy-ca-corp-proxy"), nullptr);
  auto ready = conditionOf(object["status"], "InjectionReady");
  EXPECT_EQ(ready["status"], "False");
  EXPECT_EQ(ready["reason"], "CopyConflict");
  EXPECT_THAT(ready["message"].get<std::string>(),
              HasSubstr("Secret agents/agentproxy-proxy-corp-proxy exists but is not managed by "
                        "agentproxy"));
  auto result = reconciler_.reconcile(object);
  ASSERT_TRUE(result.requeueAfter);  // looked at again, slowly
  EXPECT_LE(*result.requeueAfter, std::chrono::milliseconds(Reconciler::kReferenceRecheck));

  world_.foreign.clear();  // its owner deleted it
  settle(object);
  EXPECT_NE(world_.copy("Secret", "agents", "agentproxy-proxy-corp-proxy"), nullptr);
  EXPECT_EQ(conditionOf(object["status"], "InjectionReady")["reason"], "InjectionCurrent");
  expectPasswordNowhere();
}

TEST_F(InjectionReconcileTest, RelabellingTheNamespaceAwayDeletesBothCopies) {
  auto object = injectingPolicy();
  settle(object);
  ASSERT_EQ(world_.copies.size(), 2u);

  world_.namespaces["agents"].erase("agentproxy.io/inject");
  settle(object);
  EXPECT_TRUE(world_.copies.empty());
  EXPECT_THAT(world_.deleted, ::testing::UnorderedElementsAre(
                                  ObjectRef{"ConfigMap", "agents", "agentproxy-ca-corp-proxy"},
                                  ObjectRef{"Secret", "agents", "agentproxy-proxy-corp-proxy"}));
  auto ready = conditionOf(object["status"], "InjectionReady");
  EXPECT_EQ(ready["status"], "False");
  EXPECT_EQ(ready["reason"], "NoNamespaceSelected");

  reconciler_.reconcile(object);
  EXPECT_EQ(world_.deleted.size(), 2u);  // gone is gone: no second delete
  EXPECT_EQ(world_.written.size(), 2u);
}

TEST_F(InjectionReconcileTest, DisabledInjectionDeletesTheCopiesAndSaysSo) {
  auto object = injectingPolicy();
  settle(object);
  ASSERT_EQ(world_.copies.size(), 2u);

  auto disabled = injectingPolicy({{"injection", {{"enabled", false}}}}, 2);
  disabled["status"] = object["status"];
  auto result = settle(disabled);
  EXPECT_TRUE(result.wroteStatus);
  EXPECT_TRUE(world_.copies.empty());
  EXPECT_EQ(world_.deleted.size(), 2u);
  const auto& status = disabled["status"];
  EXPECT_EQ(status["observedGeneration"], 2);
  auto ready = conditionOf(status, "InjectionReady");
  EXPECT_EQ(ready["status"], "False");
  EXPECT_EQ(ready["reason"], "InjectionDisabled");
  EXPECT_EQ(ready["observedGeneration"], 2);
  ASSERT_TRUE(result.injection);
  EXPECT_FALSE(result.injection->enabled);
}

TEST_F(InjectionReconcileTest, PodsWithTheWebhooksHashAreInjectedTheOthersStale) {
  auto object = injectingPolicy();
  settle(object);
  const std::string hash = webhookHash(object);
  world_.pods["agents"] = {agentPod("agent-7d9f-a", "agent-7d9f", hash),
                           agentPod("agent-7d9f-b", "agent-7d9f", hash),
                           agentPod("agent-7d9f-c", "agent-7d9f")};
  // Not selected: neither counts.
  world_.pods["default"] = {agentPod("web-1", "web-5c6b", "", "default")};

  auto result = reconciler_.reconcile(object);
  ASSERT_TRUE(result.wroteStatus);
  object = withStatus(object, writer_);
  EXPECT_EQ(object["status"]["injectedPods"], 2);
  EXPECT_EQ(object["status"]["stalePods"], 1);
  ASSERT_TRUE(result.injection);
  EXPECT_EQ(result.injection->selectedPods, 3);
  auto stale = conditionOf(object["status"], "InjectionReady");
  EXPECT_EQ(stale["status"], "False");
  EXPECT_EQ(stale["reason"], "StalePods");
  EXPECT_THAT(stale["message"].get<std::string>(), HasSubstr("1 of 3 selected pods"));
  EXPECT_THAT(stale["message"].get<std::string>(), HasSubstr("restartWorkloads: true"));
  EXPECT_TRUE(world_.restarts.empty());  // not asked to

  // The last pod is recreated by the webhook.
  world_.pods["agents"][2] = agentPod("agent-7d9f-d", "agent-7d9f", hash);
  reconciler_.reconcile(object);
  object = withStatus(object, writer_);
  EXPECT_EQ(object["status"]["injectedPods"], 3);
  EXPECT_EQ(object["status"]["stalePods"], 0);
  auto current = conditionOf(object["status"], "InjectionReady");
  EXPECT_EQ(current["status"], "True");
  EXPECT_EQ(current["reason"], "InjectionCurrent");
  EXPECT_THAT(current["message"].get<std::string>(), HasSubstr("3 selected pods in 1 namespace"));
  expectPasswordNowhere();
}

TEST_F(InjectionReconcileTest, RestartsOneStaleWorkloadPerReconcileAndSpacing) {
  auto object = injectingPolicy({{"injection", {{"restartWorkloads", true}}}});
  settle(object);  // status.caBundleHash is out: the webhook stamps the current hash
  const std::string hash = webhookHash(object);
  world_.deploymentOf = {{"agents/agent-7d9f", "agent"}, {"agents/batch-5c6b", "batch"}};
  world_.pods["agents"] = {agentPod("agent-7d9f-a", "agent-7d9f"),
                           agentPod("agent-7d9f-b", "agent-7d9f"),
                           agentPod("batch-5c6b-a", "batch-5c6b"),
                           agentPod("web-1b2c-a", "web-1b2c", hash)};  // current: left alone
  const size_t eventsBefore = writer_.events.size();

  auto first = reconciler_.reconcile(object);
  ASSERT_EQ(world_.restarts.size(), 1u);
  EXPECT_EQ(world_.restarts[0].owner, (ObjectRef{"ReplicaSet", "agents", "agent-7d9f"}));
  EXPECT_EQ(world_.restarts[0].hash, hash);  // what new pods will carry
  EXPECT_EQ(world_.restarts[0].now, "2026-11-27T10:00:00Z");
  ASSERT_TRUE(first.requeueAfter);
  EXPECT_EQ(*first.requeueAfter, std::chrono::milliseconds(Reconciler::kRestartSpacing));
  ASSERT_EQ(writer_.events.size(), eventsBefore + 1);
  EXPECT_EQ(writer_.events.back().reason, "WorkloadRestarted");
  EXPECT_FALSE(writer_.events.back().warning);
  EXPECT_THAT(writer_.events.back().message, HasSubstr("Deployment agents/agent "));
  object = withStatus(object, writer_);
  EXPECT_EQ(object["status"]["stalePods"], 3);
  EXPECT_EQ(object["status"]["injectedPods"], 1);
  auto ready = conditionOf(object["status"], "InjectionReady");
  EXPECT_EQ(ready["reason"], "StalePods");
  EXPECT_THAT(ready["message"].get<std::string>(), HasSubstr("one at a time"));

  // Within kRestartSpacing: no restart, a requeue for when the spacing has passed.
  auto second = reconciler_.reconcile(object);
  EXPECT_EQ(world_.restarts.size(), 1u);
  EXPECT_EQ(writer_.events.size(), eventsBefore + 1);
  ASSERT_TRUE(second.requeueAfter);
  EXPECT_GT(*second.requeueAfter, std::chrono::milliseconds(0));
  EXPECT_LE(*second.requeueAfter, std::chrono::milliseconds(Reconciler::kRestartSpacing));

  // A new leader (no spacing yet) does not restart the Deployment again for the same hash: it
  // moves on to the next stale workload, and stops after one restart.
  Reconciler newLeader(cluster_, writer_, scheduler_, world_, kCluster,
                       [] { return std::string("2026-11-27T10:00:05Z"); }, {"agentproxy-system"},
                       redactor_);
  auto third = newLeader.reconcile(object);
  ASSERT_EQ(world_.restarts.size(), 3u);
  EXPECT_EQ(world_.restarts[1].owner, (ObjectRef{"ReplicaSet", "agents", "agent-7d9f"}));
  EXPECT_EQ(world_.restarts[2].owner, (ObjectRef{"ReplicaSet", "agents", "batch-5c6b"}));
  EXPECT_EQ(world_.restartedFor.size(), 2u);
  ASSERT_TRUE(third.requeueAfter);
  EXPECT_EQ(*third.requeueAfter, std::chrono::milliseconds(Reconciler::kRestartSpacing));
  ASSERT_EQ(writer_.events.size(), eventsBefore + 2);
  EXPECT_EQ(writer_.events.back().reason, "WorkloadRestarted");
  EXPECT_THAT(writer_.events.back().message, HasSubstr("Deployment agents/batch "));
  expectPasswordNowhere();
}

TEST_F(InjectionReconcileTest, NoRestartWithoutRestartWorkloads) {
  auto object = injectingPolicy();
  settle(object);
  world_.deploymentOf = {{"agents/agent-7d9f", "agent"}};
  world_.pods["agents"] = {agentPod("agent-7d9f-a", "agent-7d9f")};
  reconciler_.reconcile(object);
  EXPECT_TRUE(world_.restarts.empty());
}

// A restart only helps when the pods it brings carry the hash the controller counts against.
// The webhook stamps pods with the hash built from the policy's stored status.caBundleHash
// (AdmissionPolicies::caBundleHashes); a restart made before that status is written (a new
// policy, or a rotated CA, whose probe is not in yet) brings pods with the old hash, and the
// restarted-for annotation then stops any further restart for the new hash.
TEST_F(InjectionReconcileTest, RestartWaitsUntilTheWebhookStampsTheHashItRestartsFor) {
  auto object = injectingPolicy({{"injection", {{"restartWorkloads", true}}}});
  world_.deploymentOf = {{"agents/agent-7d9f", "agent"}};
  world_.pods["agents"] = {agentPod("agent-7d9f-a", "agent-7d9f")};
  world_.policyObjects = {object};

  // A new policy: status.caBundleHash is not written until its first probe is in.
  reconciler_.reconcile(object);
  for (const auto& r : world_.restarts) {
    EXPECT_EQ(r.hash, webhookHash(object))
        << "restarted " << r.owner.name << " before the webhook could stamp that hash";
  }

  // Same with a rotated CA: the copy and the restart follow the new CA at once, the status
  // (and so the webhook) only after the probe of the new trust.
  world_.restarts.clear();
  world_.restartedFor.clear();
  settle(object);
  world_.pods["agents"] = {agentPod("agent-8e0a-a", "agent-8e0a", webhookHash(object))};
  world_.deploymentOf["agents/agent-8e0a"] = "agent";
  setCorpCa(testCas().corp2);
  Reconciler later(cluster_, writer_, scheduler_, world_, kCluster,
                   [] { return std::string("2026-11-27T11:00:00Z"); }, {"agentproxy-system"},
                   redactor_);
  later.reconcile(object);  // object: the status the webhook sees
  for (const auto& r : world_.restarts) {
    EXPECT_EQ(r.hash, webhookHash(object))
        << "restarted " << r.owner.name << " for a hash the webhook does not stamp yet";
  }
}

TEST_F(InjectionReconcileTest, CaBundleHashFollowsThePolicysCa) {
  auto object = injectingPolicy();
  settle(object);
  const auto before = object["status"]["caBundleHash"].get<std::string>();
  world_.pods["agents"] = {agentPod("agent-7d9f-a", "agent-7d9f", webhookHash(object))};
  reconciler_.reconcile(object);
  object = withStatus(object, writer_);
  ASSERT_EQ(object["status"]["injectedPods"], 1);

  setCorpCa(testCas().corp2);  // the proxy's CA is rotated
  settle(object);
  const auto after = object["status"]["caBundleHash"].get<std::string>();
  EXPECT_NE(after, before);
  ASSERT_EQ(world_.written.size(), 3u);  // the ConfigMap again, not the Secret
  EXPECT_EQ(world_.written.back().ref,
            (ObjectRef{"ConfigMap", "agents", "agentproxy-ca-corp-proxy"}));
  const auto& bundle =
      world_.copy("ConfigMap", "agents", "agentproxy-ca-corp-proxy")->data.at("ca-bundle.crt");
  EXPECT_TRUE(bundleHolds(bundle, testCas().corp2));
  EXPECT_FALSE(bundleHolds(bundle, testCas().corp));
  EXPECT_EQ(after, "sha256:" + encoding::sha256Hex(bundle));
  // The pod started with the old bundle is stale now.
  EXPECT_EQ(object["status"]["injectedPods"], 0);
  EXPECT_EQ(object["status"]["stalePods"], 1);
}

TEST_F(InjectionReconcileTest, ExpiredPolicyCaIsAWarning) {
  setCorpCa(testCas().corp + testCas().expired);
  auto object = injectingPolicy();
  settle(object);
  bool found = false;
  for (const auto& w : object["status"]["warnings"]) {
    auto text = w.get<std::string>();
    if (text.find("expired") != std::string::npos) {
      found = true;
      EXPECT_THAT(text, HasSubstr(kCorpCaOrigin));
      EXPECT_THAT(text, HasSubstr("expired at 2020-01-0"));
    }
  }
  EXPECT_TRUE(found) << object["status"]["warnings"].dump();
  // Still distributed: removing it is the user's call.
  const auto* ca = world_.copy("ConfigMap", "agents", "agentproxy-ca-corp-proxy");
  ASSERT_NE(ca, nullptr);
  EXPECT_TRUE(bundleHolds(ca->data.at("ca-bundle.crt"), testCas().expired));
}

TEST_F(InjectionReconcileTest, PodsAnotherPolicyWinsAreAWarning) {
  auto object = injectingPolicy();
  json winner = injectingPolicy();
  winner["metadata"]["name"] = "a-proxy";
  world_.pods["agents"] = {agentPod("agent-7d9f-a", "agent-7d9f")};
  world_.policyObjects = {object, winner};
  reconciler_.reconcile(object);
  {
    std::unique_lock lock(mutex_);
    ASSERT_TRUE(cv_.wait_for(lock, std::chrono::seconds(5), [&] { return done_ >= 1; }));
  }
  reconciler_.reconcile(object);
  object = withStatus(object, writer_);
  EXPECT_EQ(object["status"]["stalePods"], 0);
  EXPECT_EQ(object["status"]["injectedPods"], 0);
  bool found = false;
  for (const auto& w : object["status"]["warnings"]) {
    found = found || w.get<std::string>().find("ProxyPolicy a-proxy") != std::string::npos;
  }
  EXPECT_TRUE(found) << object["status"]["warnings"].dump();
}

TEST(Jitter, StablePerPolicyAndWithinTenPercent) {
  auto a = Reconciler::jittered(std::chrono::minutes(5), "a");
  EXPECT_EQ(a, Reconciler::jittered(std::chrono::minutes(5), "a"));
  EXPECT_GE(a, std::chrono::minutes(5));
  EXPECT_LE(a, std::chrono::milliseconds(330'000));
}

}  // namespace
}  // namespace agentproxy::controller
