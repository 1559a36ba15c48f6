// The kube client against a real kube-apiserver (tests/kube/cluster_fixture.h: v1.36.3 with
// etcd and kube-controller-manager, RBAC enforced): every verb, every error class, watches that
// survive faults, and bad configurations. The faults are the real server's own (a restart, an
// etcd compaction, a refused ServiceAccount, its watch deadlines) except the few it cannot
// produce on demand (exact counts of 429 and 5xx answers, latency, a connection cut in the
// network), which come from a small relay in front of it (FaultRelay).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "cluster_fixture.h"
#include "kube/client.h"
#include "kube/event_recorder.h"
#include "kube/lease.h"
#include "process.h"
#include "test_ca.h"

namespace agentproxy::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

const ResourceType kConfigMaps = resources::configMaps();

nlohmann::json configMap(const std::string& name, std::map<std::string, std::string> labels = {},
                         std::map<std::string, std::string> data = {}) {
  nlohmann::json cm = {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", name}}}};
  if (!labels.empty()) cm["metadata"]["labels"] = labels;
  if (!data.empty()) cm["data"] = data;
  return cm;
}

std::string nameOf(const nlohmann::json& object) { return object["metadata"]["name"]; }
std::string rvOf(const nlohmann::json& object) { return object["metadata"]["resourceVersion"]; }

class KubeClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    configureHttpThreads(4);
    server_ = new testing::ClusterProcess();
    // The client under test authenticates as a ServiceAccount with a TokenRequest token, as
    // the operator does; the audit log tells its requests apart by that name.
    token_ = server_->serviceAccountToken("default", "kube-client-test", "cluster-admin");
    relay_ = new testing::FaultRelay(*server_);
  }
  static void TearDownTestSuite() {
    delete relay_;
    relay_ = nullptr;
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    relay_->faults({{"latencyMs", 0}});
    client_ = std::make_unique<Client>(config(), fastRetries());
  }

  static Config config() { return server_->tokenConfig(token_); }
  // The same identity through the fault relay.
  static Config relayed() { return server_->tokenConfig(token_, relay_->url()); }
  static constexpr char kTestUser[] = "system:serviceaccount:default:kube-client-test";

  static ClientOptions fastRetries() {
    ClientOptions options;
    options.requestTimeout = milliseconds(10000);
    options.retryBaseDelay = milliseconds(20);
    options.retryMaxDelay = milliseconds(200);
    return options;
  }

  // A fresh namespace per test, named after it.
  std::string makeNamespace() {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string ns = "t-";
    for (char c : name) ns += static_cast<char>(std::isupper(c) ? std::tolower(c) : c);
    ns = ns.substr(0, 60);
    client_->create(resources::namespaces(), "",
                    {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
    return ns;
  }

  static testing::ClusterProcess* server_;
  static testing::FaultRelay* relay_;
  static std::string token_;
  std::unique_ptr<Client> client_;
};

testing::ClusterProcess* KubeClientTest::server_ = nullptr;
testing::FaultRelay* KubeClientTest::relay_ = nullptr;
std::string KubeClientTest::token_;

TEST_F(KubeClientTest, CreateGetUpdateDelete) {
  std::string ns = makeNamespace();
  auto created = client_->create(kConfigMaps, ns, configMap("settings", {}, {{"a", "1"}}));
  EXPECT_EQ(nameOf(created), "settings");
  EXPECT_FALSE(rvOf(created).empty());

  auto fetched = client_->get(kConfigMaps, ns, "settings");
  EXPECT_EQ(fetched["data"]["a"], "1");
  EXPECT_EQ(fetched["metadata"]["uid"], created["metadata"]["uid"]);

  fetched["data"]["a"] = "2";
  auto updated = client_->update(kConfigMaps, ns, "settings", fetched);
  EXPECT_EQ(updated["data"]["a"], "2");
  EXPECT_NE(rvOf(updated), rvOf(created));

  auto removed = client_->remove(kConfigMaps, ns, "settings");
  EXPECT_THROW(client_->get(kConfigMaps, ns, "settings"), NotFoundError);
  EXPECT_THROW(client_->remove(kConfigMaps, ns, "settings"), NotFoundError);
}

TEST_F(KubeClientTest, PatchesMergeJsonAndStrategic) {
  std::string ns = makeNamespace();
  client_->create(kConfigMaps, ns, configMap("p", {{"app", "x"}}, {{"a", "1"}, {"b", "2"}}));
  auto merged = client_->patch(kConfigMaps, ns, "p", PatchType::kMerge,
                               {{"data", {{"a", "10"}, {"b", nullptr}}}});
  EXPECT_EQ(merged["data"], (nlohmann::json{{"a", "10"}}));
  auto jsonPatched =
      client_->patch(kConfigMaps, ns, "p", PatchType::kJson,
                     nlohmann::json::array(
                         {{{"op", "add"}, {"path", "/data/c"}, {"value", "3"}},
                          {{"op", "replace"}, {"path", "/metadata/labels/app"}, {"value", "y"}}}));
  EXPECT_EQ(jsonPatched["data"]["c"], "3");
  EXPECT_EQ(jsonPatched["metadata"]["labels"]["app"], "y");
  auto strategic =
      client_->patch(kConfigMaps, ns, "p", PatchType::kStrategicMerge, {{"data", {{"d", "4"}}}});
  EXPECT_EQ(strategic["data"]["d"], "4");
  EXPECT_EQ(strategic["data"]["a"], "10");
  // Server-side apply: the field manager owns what it applied.
  PatchOptions apply;
  apply.fieldManager = "agentproxy";
  apply.force = true;
  auto applied = client_->patch(kConfigMaps, ns, "p", PatchType::kApply,
                                {{"apiVersion", "v1"},
                                 {"kind", "ConfigMap"},
                                 {"metadata", {{"name", "p"}}},
                                 {"data", {{"e", "5"}}}},
                                apply);
  EXPECT_EQ(applied["data"]["e"], "5");
  EXPECT_EQ(applied["data"]["a"], "10");
  bool managed = false;
  for (const auto& entry : applied["metadata"]["managedFields"]) {
    managed = managed || (entry["manager"] == "agentproxy" && entry["operation"] == "Apply");
  }
  EXPECT_TRUE(managed) << applied["metadata"]["managedFields"].dump();
  EXPECT_THROW(client_->patch(kConfigMaps, ns, "p", PatchType::kJson, {{"not", "an array"}}),
               std::invalid_argument);
}

TEST_F(KubeClientTest, StatusSubresourcePatchAndUpdate) {
  std::string ns = makeNamespace();
  nlohmann::json pod = {{"apiVersion", "v1"},
                        {"kind", "Pod"},
                        {"metadata", {{"name", "agent"}}},
                        {"spec", {{"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}};
  client_->create(resources::pods(), ns, pod);
  auto patched = client_->patchStatus(resources::pods(), ns, "agent", PatchType::kMerge,
                                      {{"status", {{"phase", "Running"}}}});
  EXPECT_EQ(patched["status"]["phase"], "Running");
  // The main resource ignores status; /status ignores everything else.
  auto main = client_->patch(resources::pods(), ns, "agent", PatchType::kMerge,
                             {{"status", {{"phase", "Failed"}}}});
  EXPECT_EQ(main["status"]["phase"], "Running");
  main["status"]["phase"] = "Succeeded";
  auto viaPut = client_->updateStatus(resources::pods(), ns, "agent", main);
  EXPECT_EQ(viaPut["status"]["phase"], "Succeeded");
  EXPECT_EQ(client_->get(resources::pods(), ns, "agent")["status"]["phase"], "Succeeded");
}

TEST_F(KubeClientTest, ListWithSelectorsAndPagination) {
  std::string ns = makeNamespace();
  for (int i = 0; i < 25; ++i) {
    client_->create(kConfigMaps, ns,
                    configMap("cm-" + std::to_string(100 + i),
                              {{"parity", i % 2 ? "odd" : "even"}, {"app", "agent"}}));
  }
  EXPECT_EQ(client_->list(kConfigMaps, ns).items.size(), 25u);

  LabelSelector odd;
  odd.matchLabels = {{"app", "agent"}};
  odd.matchExpressions = {{"parity", "In", {"odd"}}};
  ListOptions byLabel;
  byLabel.labelSelector = odd.toString();
  EXPECT_EQ(client_->list(kConfigMaps, ns, byLabel).items.size(), 12u);

  ListOptions byField;
  byField.fieldSelector = "metadata.name=cm-107";
  auto one = client_->list(kConfigMaps, ns, byField);
  ASSERT_EQ(one.items.size(), 1u);
  EXPECT_EQ(nameOf(one.items[0]), "cm-107");

  ListOptions page;
  page.limit = 10;
  auto first = client_->list(kConfigMaps, ns, page);
  EXPECT_EQ(first.items.size(), 10u);
  EXPECT_FALSE(first.continueToken.empty());
  EXPECT_FALSE(first.resourceVersion.empty());

  ListOptions paged;
  paged.limit = 7;
  auto listsSoFar = [&] {
    int lists = 0;
    for (const auto& e : server_->auditEvents(kTestUser)) {
      lists += e["verb"] == "list" && e["objectRef"].value("namespace", "") == ns;
    }
    return lists;
  };
  int before = listsSoFar();
  auto all = client_->listAll(kConfigMaps, ns, paged);
  ASSERT_EQ(all.items.size(), 25u);
  std::set<std::string> names;
  for (const auto& item : all.items) names.insert(nameOf(item));
  EXPECT_EQ(names.size(), 25u);
  EXPECT_EQ(listsSoFar() - before, 4) << "25 items in pages of 7";

  // All namespaces.
  EXPECT_GE(client_->listAll(kConfigMaps, "", byLabel).items.size(), 12u);
}

TEST_F(KubeClientTest, ErrorClasses) {
  std::string ns = makeNamespace();
  auto created = client_->create(kConfigMaps, ns, configMap("x"));

  EXPECT_THROW(client_->create(kConfigMaps, ns, configMap("x")), AlreadyExistsError);

  auto stale = created;
  client_->patch(kConfigMaps, ns, "x", PatchType::kMerge, {{"data", {{"k", "v"}}}});
  try {
    client_->update(kConfigMaps, ns, "x", stale);
    FAIL() << "a stale update must conflict";
  } catch (const ConflictError& e) {
    EXPECT_EQ(e.code(), 409);
    EXPECT_THAT(e.what(), HasSubstr("PUT " + server_->url() + "/api/v1/namespaces/" + ns +
                                    "/configmaps/x: 409 Conflict: "));
  }
  DeleteOptions precondition;
  precondition.preconditionResourceVersion = rvOf(stale);
  EXPECT_THROW(client_->remove(kConfigMaps, ns, "x", precondition), ConflictError);

  try {
    client_->create(kConfigMaps, ns, configMap("Not_A_DNS_Name"));
    FAIL() << "an invalid name must be refused";
  } catch (const InvalidError& e) {
    EXPECT_EQ(e.code(), 422);
    ASSERT_FALSE(e.causes().empty());
    EXPECT_EQ(e.causes()[0].field, "metadata.name");
    EXPECT_THAT(e.what(), HasSubstr("metadata.name: "));
  }

  auto wrongNs = configMap("y");
  wrongNs["metadata"]["namespace"] = "elsewhere";
  EXPECT_THROW(client_->create(kConfigMaps, ns, wrongNs), BadRequestError);

  // A ServiceAccount that RBAC grants nothing.
  static const std::string nobody = server_->serviceAccountToken("default", "nobody", "");
  Client refused(server_->tokenConfig(nobody), fastRetries());
  try {
    refused.get(kConfigMaps, ns, "x");
    FAIL() << "RBAC grants nobody nothing";
  } catch (const ForbiddenError& e) {
    EXPECT_EQ(e.code(), 403);
    EXPECT_THAT(e.what(), HasSubstr("cannot get resource \"configmaps\""));
  }

  EXPECT_THROW(client_->get(kConfigMaps, "no-such-namespace", "x"), NotFoundError);
}

TEST_F(KubeClientTest, UnauthorizedNeverShowsTheToken) {
  Config config = this->config();
  config.bearerToken = "wrong-token-do-not-print";
  Client client(config, fastRetries());
  try {
    client.get(kConfigMaps, "default", "x");
    FAIL();
  } catch (const UnauthorizedError& e) {
    EXPECT_EQ(e.code(), 401);
    EXPECT_THAT(e.what(), Not(HasSubstr("wrong-token")));
    EXPECT_THAT(e.what(), Not(HasSubstr(token_)));
    EXPECT_THAT(e.what(), HasSubstr("GET " + server_->url()));
  }
}

TEST_F(KubeClientTest, RotatedTokenFileIsReadAgain) {
  Config config = this->config();
  auto tokenFile = server_->dir() / "rotating-token";
  std::ofstream(tokenFile) << "expired-token\n";
  config.bearerToken.clear();
  config.tokenFile = tokenFile;
  Client client(config, fastRetries());
  EXPECT_THROW(client.get(resources::namespaces(), "", "default"), UnauthorizedError);
  std::ofstream(tokenFile) << token_ << "\n";
  EXPECT_EQ(nameOf(client.get(resources::namespaces(), "", "default")), "default");
}

TEST_F(KubeClientTest, TooManyRequestsHonoursRetryAfterThenGivesUp) {
  std::string ns = makeNamespace();
  client_->create(kConfigMaps, ns, configMap("x"));
  Client client(relayed(), fastRetries());
  relay_->faults({{"failNext", {{"count", 2}, {"code", 429}, {"retryAfter", 1}}}});
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(nameOf(client.get(kConfigMaps, ns, "x")), "x");
  EXPECT_GE(std::chrono::steady_clock::now() - started, milliseconds(1900))
      << "two Retry-After: 1 answers mean two one-second waits";

  ClientOptions options = fastRetries();
  options.maxRetries = 2;
  Client impatient(relayed(), options);
  relay_->faults({{"failNext", {{"count", 3}, {"code", 429}, {"retryAfter", 0}}}});
  try {
    impatient.get(kConfigMaps, ns, "x");
    FAIL();
  } catch (const TooManyRequestsError& e) {
    EXPECT_EQ(e.info().retryAfter, seconds(0));
  }
  EXPECT_EQ(relay_->faults(nlohmann::json::object())["pendingFailures"], 0);
}

TEST_F(KubeClientTest, ServerErrorsAreRetriedWithBackoffThenSurface) {
  std::string ns = makeNamespace();
  client_->create(kConfigMaps, ns, configMap("x"));
  Client client(relayed(), fastRetries());
  relay_->faults({{"failNext", {{"count", 3}, {"code", 500}}}});
  EXPECT_EQ(nameOf(client.get(kConfigMaps, ns, "x")), "x");

  ClientOptions options = fastRetries();
  options.maxRetries = 1;
  Client impatient(relayed(), options);
  relay_->faults({{"failNext", {{"count", 2}, {"code", 503}}}});
  try {
    impatient.get(kConfigMaps, ns, "x");
    FAIL();
  } catch (const ServerError& e) {
    EXPECT_EQ(e.code(), 503);
  }
}

TEST_F(KubeClientTest, EveryRequestHasADeadline) {
  ClientOptions options = fastRetries();
  options.requestTimeout = milliseconds(300);
  Client hurried(relayed(), options);
  relay_->faults({{"latencyMs", 1500}});
  try {
    hurried.get(resources::namespaces(), "", "default");
    FAIL();
  } catch (const TimeoutError& e) {
    EXPECT_THAT(e.what(), HasSubstr("no complete answer within 300 ms"));
  }
  relay_->faults({{"latencyMs", 0}});
}

TEST_F(KubeClientTest, UnreachableServerIsATransportError) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  uint16_t closedPort = ntohs(addr.sin_port);
  ::close(fd);  // bound, never listened: nothing accepts on it

  Config config = this->config();
  config.server = "https://127.0.0.1:" + std::to_string(closedPort);
  Client client(config, fastRetries());
  try {
    client.get(kConfigMaps, "default", "x");
    FAIL();
  } catch (const TransportError& e) {
    EXPECT_THAT(e.what(), HasSubstr("GET https://127.0.0.1:" + std::to_string(closedPort)));
    EXPECT_THAT(e.what(), HasSubstr("cannot connect"));
  }
}

TEST_F(KubeClientTest, WrongCaIsATlsErrorAndSkipVerifyBypassesIt) {
  Config config = this->config();
  config.caPem = agentproxy::testing::TestCa::create("Some Other CA").certPem();
  Client client(config, fastRetries());
  try {
    client.get(kConfigMaps, "default", "x");
    FAIL();
  } catch (const TransportError& e) {
    EXPECT_THAT(e.what(), HasSubstr("TLS handshake failed"));
  }
  config.insecureSkipTlsVerify = true;
  Client trusting(config, fastRetries());
  EXPECT_EQ(nameOf(trusting.get(resources::namespaces(), "", "default")), "default");
}

// Mutual TLS: the real server takes the admin's client certificate (system:masters), and
// answers 401 to one no CA of its own signed.
TEST_F(KubeClientTest, ClientCertificateAuthenticatesOverMutualTls) {
  Config admin = server_->adminConfig();
  ASSERT_FALSE(admin.clientCertPem.empty());
  ASSERT_TRUE(admin.bearerToken.empty());
  Client withCert(admin, fastRetries());
  EXPECT_EQ(nameOf(withCert.get(resources::namespaces(), "", "kube-system")), "kube-system");

  auto stranger = agentproxy::testing::TestCa::create("Not The Cluster CA");
  Config config = admin;
  config.clientCertPem = stranger.certPem();
  config.clientKeyPem = stranger.keyPem();
  Client withStrangerCert(config, fastRetries());
  EXPECT_THROW(withStrangerCert.get(resources::namespaces(), "", "kube-system"),
               UnauthorizedError);
}

TEST_F(KubeClientTest, BrokenKubeconfigOnDiskNamesTheField) {
  auto path = server_->dir() / "broken-kubeconfig";
  std::ifstream in(server_->kubeconfig());
  std::string text(std::istreambuf_iterator<char>(in), {});
  auto line = text.find("    server: ");
  ASSERT_NE(line, std::string::npos);
  text.erase(line, text.find('\n', line) + 1 - line);
  std::ofstream(path) << text;
  EXPECT_THAT([&] { loadKubeconfig(path); },
              ::testing::ThrowsMessage<ConfigError>(
                  HasSubstr("kubeconfig " + path.string() + ": cluster \"local\" has no server")));
}

// Collects watch events on a thread.
class WatchRecorder {
 public:
  void start(Client& client, const std::string& ns, WatchOptions options) {
    options.onReconnect = [this](const std::string&) { ++reconnects; };
    thread_ = std::thread([this, &client, ns, options] {
      try {
        lastRv_ = client.watch(
            kConfigMaps, ns, options,
            [this](const WatchEvent& e) {
              std::lock_guard lock(mutex_);
              if (e.type == WatchEventType::kBookmark) {
                ++bookmarks;
              } else {
                events_.push_back(std::string(watchEventTypeName(e.type)) + " " +
                                  e.object["metadata"]["name"].get<std::string>());
              }
              cv_.notify_all();
            },
            stop_.get_token());
      } catch (...) {
        std::lock_guard lock(mutex_);
        error_ = std::current_exception();
        cv_.notify_all();
      }
    });
  }
  ~WatchRecorder() { stop(); }

  bool waitFor(size_t count, milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return events_.size() >= count || error_; }) &&
           events_.size() >= count;
  }
  bool waitForBookmark(milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return bookmarks > 0; });
  }
  void stop() {
    stop_.request_stop();
    if (thread_.joinable()) thread_.join();
  }
  std::vector<std::string> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::exception_ptr error() {
    std::lock_guard lock(mutex_);
    return error_;
  }
  std::string lastRv() const { return lastRv_; }

  std::atomic<int> reconnects{0};
  int bookmarks = 0;

 private:
  std::thread thread_;
  std::stop_source stop_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> events_;
  std::exception_ptr error_;
  std::string lastRv_;
};

void waitForNoPendingFaults(testing::FaultRelay& relay) {
  for (int i = 0; i < 500; ++i) {
    if (relay.faults(nlohmann::json::object())["pendingFailures"] == 0) return;
    std::this_thread::sleep_for(milliseconds(10));
  }
  FAIL() << "the injected failures were never consumed";
}

// Streams cut in the network (the relay), then 429 and 500 answers to the reconnects: the watch
// resumes from its last resourceVersion each time, and the real server's watch cache gives it
// exactly what it missed.
TEST_F(KubeClientTest, WatchSurvivesDropsAnd429And500WithoutLossOrDuplicates) {
  std::string ns = makeNamespace();
  client_->create(kConfigMaps, ns, configMap("before"));
  auto listed = client_->listAll(kConfigMaps, ns);
  Client watching(relayed(), fastRetries());

  WatchOptions options;
  options.resourceVersion = listed.resourceVersion;
  options.initialBackoff = milliseconds(20);
  options.maxBackoff = milliseconds(200);
  WatchRecorder watch;
  watch.start(watching, ns, options);

  std::vector<std::string> expected;
  for (int i = 0; i < 30; ++i) {
    std::string name = "cm-" + std::to_string(i);
    client_->create(kConfigMaps, ns, configMap(name));
    expected.push_back("ADDED " + name);
    if (i % 3 == 0) {
      client_->patch(kConfigMaps, ns, name, PatchType::kMerge, {{"data", {{"i", "x"}}}});
      expected.push_back("MODIFIED " + name);
    }
    if (i % 5 == 4) {
      client_->remove(kConfigMaps, ns, name);
      expected.push_back("DELETED " + name);
    }
    if (i == 6 || i == 16 || i == 26) {
      // Let the watch catch up so the drop lands on a live stream, then break it.
      ASSERT_TRUE(watch.waitFor(expected.size(), seconds(10)));
      nlohmann::json fault = {{"dropStreams", true}};
      if (i == 16) fault["failNext"] = {{"count", 2}, {"code", 429}, {"retryAfter", 0}};
      if (i == 26) fault["failNext"] = {{"count", 2}, {"code", 500}};
      relay_->faults(fault);
      if (i != 6) waitForNoPendingFaults(*relay_);
    }
  }
  ASSERT_TRUE(watch.waitFor(expected.size(), seconds(15)))
      << "got " << watch.events().size() << " of " << expected.size();
  // Nothing more may arrive (a duplicate would).
  std::this_thread::sleep_for(milliseconds(300));
  watch.stop();
  if (auto e = watch.error()) std::rethrow_exception(e);
  EXPECT_EQ(watch.events(), expected);
  EXPECT_GE(watch.reconnects.load(), 3);
}

// etcd compacted, and the API server restarted so its watch cache starts after the compaction
// (a cache still holding the history would, rightly, serve it).
TEST_F(KubeClientTest, WatchFromACompactedVersionIsGone) {
  std::string ns = makeNamespace();
  client_->create(kConfigMaps, ns, configMap("a"));
  auto listed = client_->listAll(kConfigMaps, ns);
  client_->create(kConfigMaps, ns, configMap("b"));
  server_->compact();
  server_->restart("apiserver");
  WatchOptions options;
  options.resourceVersion = listed.resourceVersion;
  EXPECT_THROW(client_->watch(kConfigMaps, ns, options, [](const WatchEvent&) {}), GoneError);

  // An expired continue token is Gone too.
  ListOptions page;
  page.limit = 1;
  auto first = client_->list(kConfigMaps, ns, page);
  ASSERT_FALSE(first.continueToken.empty());
  client_->create(kConfigMaps, ns, configMap("c"));
  server_->compact();
  server_->restart("apiserver");
  page.continueToken = first.continueToken;
  EXPECT_THROW(client_->list(kConfigMaps, ns, page), GoneError);
}

// The caller's side of 410: list, watch, and on Gone list again. The cache must end equal to
// the server's state.
TEST_F(KubeClientTest, ReListAfterGoneConverges) {
  std::string ns = makeNamespace();
  for (int i = 0; i < 5; ++i) client_->create(kConfigMaps, ns, configMap("s-" + std::to_string(i)));

  std::mutex mutex;
  std::map<std::string, std::string> cache;  // name -> resourceVersion
  std::atomic<int> lists{0};
  // Holds the watching thread inside its callback on the event for "gate", so that the
  // server's history can be compacted past the watch's position.
  std::mutex gateMutex;
  std::condition_variable gateCv;
  bool gateHeld = false;
  bool gateOpen = false;
  std::stop_source stop;
  std::jthread reflector([&] {
    while (!stop.stop_requested()) {
      ObjectList listed;
      try {
        listed = client_->listAll(kConfigMaps, ns);
      } catch (const TransportError&) {
        std::this_thread::sleep_for(milliseconds(200));  // the API server is restarting
        continue;
      } catch (const ForbiddenError&) {
        // A restarted API server refuses for a moment what RBAC allows: its authorizer's
        // caches are not filled yet. A real client waits, as here.
        std::this_thread::sleep_for(milliseconds(200));
        continue;
      }
      ++lists;
      {
        std::lock_guard lock(mutex);
        cache.clear();
        for (const auto& item : listed.items) cache[nameOf(item)] = rvOf(item);
      }
      WatchOptions options;
      options.resourceVersion = listed.resourceVersion;
      options.initialBackoff = milliseconds(20);
      options.maxBackoff = milliseconds(500);
      try {
        client_->watch(
            kConfigMaps, ns, options,
            [&](const WatchEvent& e) {
              if (e.type == WatchEventType::kBookmark) return;
              if (nameOf(e.object) == "gate") {
                std::unique_lock gate(gateMutex);
                gateHeld = true;
                gateCv.notify_all();
                gateCv.wait(gate, [&] { return gateOpen; });
              }
              std::lock_guard lock(mutex);
              if (e.type == WatchEventType::kDeleted) {
                cache.erase(nameOf(e.object));
              } else {
                cache[nameOf(e.object)] = rvOf(e.object);
              }
            },
            stop.get_token());
      } catch (const GoneError&) {
        continue;  // re-list
      }
    }
  });

  // Declared after the thread, so destroyed first: however the test ends (an ASSERT returns
  // early), the reflector is told to stop and let through the gate before it is joined.
  struct StopOnExit {
    std::function<void()> stop;
    ~StopOnExit() { stop(); }
  } stopOnExit{[&] {
    stop.request_stop();
    std::lock_guard gate(gateMutex);
    gateOpen = true;
    gateCv.notify_all();
  }};

  auto serverState = [&] {
    std::map<std::string, std::string> state;
    for (const auto& item : client_->listAll(kConfigMaps, ns).items)
      state[nameOf(item)] = rvOf(item);
    return state;
  };
  auto converged = [&] {
    for (int i = 0; i < 1200; ++i) {
      auto state = serverState();
      {
        std::lock_guard lock(mutex);
        if (cache == state) return true;
      }
      std::this_thread::sleep_for(milliseconds(25));
    }
    return false;
  };
  ASSERT_TRUE(converged());
  for (int i = 5; i < 10; ++i)
    client_->create(kConfigMaps, ns, configMap("s-" + std::to_string(i)));
  ASSERT_TRUE(converged());
  EXPECT_EQ(lists.load(), 1);

  // Park the watch on "gate", break its stream, change things behind its back and compact
  // the history past it: its reconnect gets 410 and it must re-list.
  client_->create(kConfigMaps, ns, configMap("gate"));
  {
    std::unique_lock gate(gateMutex);
    ASSERT_TRUE(gateCv.wait_for(gate, seconds(10), [&] { return gateHeld; }));
  }
  // Break the stream first (the API server goes down): changes made while it is still open
  // would reach the client's buffers and be delivered (correctly) after the gate opens. The
  // server comes back with an empty watch cache; the changes and etcd's compaction make the
  // watch's position too old.
  server_->stop("apiserver");
  server_->start("apiserver");
  client_->remove(kConfigMaps, ns, "s-0");
  client_->patch(kConfigMaps, ns, "s-1", PatchType::kMerge, {{"data", {{"k", "v"}}}});
  client_->create(kConfigMaps, ns, configMap("s-new"));
  server_->compact();
  {
    std::lock_guard gate(gateMutex);
    gateOpen = true;
    gateCv.notify_all();
  }
  EXPECT_TRUE(converged());
  stop.request_stop();
  reflector.join();
  EXPECT_GE(lists.load(), 2) << "a 410 must lead to a re-list";
}

TEST_F(KubeClientTest, WatchDeliversBookmarksAndReturnsTheLastVersionOnStop) {
  std::string ns = makeNamespace();
  auto listed = client_->listAll(kConfigMaps, ns);
  WatchOptions options;
  options.resourceVersion = listed.resourceVersion;
  // The real server sends a bookmark every minute and two seconds before a watch's deadline,
  // and only when it carries a resourceVersion newer than any the watch has passed, shown or
  // not: ConfigMaps written in another namespace while the watch runs move it on without being
  // events of this watch (as in any busy cluster).
  options.timeoutSeconds = 4;
  WatchRecorder watch;
  watch.start(*client_, ns, options);
  std::string elsewhere = ns + "-x";
  client_->create(resources::namespaces(), "",
                  {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", elsewhere}}}});
  bool bookmarked = false;
  for (int i = 0; i < 30 && !bookmarked; ++i) {
    client_->create(kConfigMaps, elsewhere, configMap("elsewhere-" + std::to_string(i)));
    bookmarked = watch.waitForBookmark(milliseconds(500));
  }
  EXPECT_TRUE(bookmarked);
  EXPECT_TRUE(watch.events().empty());
  client_->create(kConfigMaps, ns, configMap("late"));
  ASSERT_TRUE(watch.waitFor(1, seconds(5)));
  watch.stop();
  EXPECT_FALSE(watch.lastRv().empty());
  EXPECT_GE(std::stoll(watch.lastRv()), std::stoll(rvOf(client_->get(kConfigMaps, ns, "late"))));
}

// The operator lists and watches Secrets cluster-wide: as metadata only, the server sends no
// byte of their data (the items are the answer's own, untouched by the client), while a plain
// list of the same Secrets carries it.
TEST_F(KubeClientTest, MetadataOnlyListAndWatchNeverCarryData) {
  std::string ns = makeNamespace();
  const auto secrets = resources::secrets();
  auto secret = [](const std::string& name) {
    return nlohmann::json{{"apiVersion", "v1"},
                          {"kind", "Secret"},
                          {"metadata", {{"name", name}, {"labels", {{"app", "helm"}}}}},
                          {"stringData", {{"release", "a-large-helm-release-blob"}}}};
  };
  client_->create(secrets, ns, secret("listed"));

  auto whole = client_->listAll(secrets, ns);
  ASSERT_EQ(whole.items.size(), 1u);
  EXPECT_TRUE(whole.items[0].contains("data")) << "a plain list carries the data";

  ListOptions metadataOnly;
  metadataOnly.metadataOnly = true;
  auto listed = client_->listAll(secrets, ns, metadataOnly);
  ASSERT_EQ(listed.items.size(), 1u);
  const auto& item = listed.items[0];
  EXPECT_EQ(item.value("kind", ""), "PartialObjectMetadata") << item.dump();
  EXPECT_FALSE(item.contains("data")) << item.dump();
  EXPECT_FALSE(item.contains("type")) << item.dump();
  EXPECT_EQ(nameOf(item), "listed");
  EXPECT_EQ(item["metadata"]["labels"]["app"], "helm");
  EXPECT_FALSE(listed.resourceVersion.empty());
  EXPECT_EQ(client_->getMetadata(secrets, ns, "listed").count("data"), 0u);

  WatchOptions options;
  options.resourceVersion = listed.resourceVersion;
  options.metadataOnly = true;
  std::mutex m;
  std::condition_variable cv;
  std::vector<nlohmann::json> seen;
  std::stop_source stop;
  std::thread watcher([&] {
    try {
      client_->watch(
          secrets, ns, options,
          [&](const WatchEvent& event) {
            if (event.type == WatchEventType::kBookmark) return;
            std::lock_guard lock(m);
            seen.push_back(event.object);
            cv.notify_all();
          },
          stop.get_token());
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
  });
  client_->create(secrets, ns, secret("watched"));
  client_->patch(secrets, ns, "watched", PatchType::kMerge,
                 {{"stringData", {{"release", "rotated"}}}});
  client_->remove(secrets, ns, "watched");
  {
    std::unique_lock lock(m);
    EXPECT_TRUE(cv.wait_for(lock, seconds(10), [&] { return seen.size() >= 3; }));
  }
  stop.request_stop();
  watcher.join();
  ASSERT_GE(seen.size(), 3u);
  for (const auto& object : seen) {
    EXPECT_EQ(object.value("kind", ""), "PartialObjectMetadata") << object.dump();
    EXPECT_FALSE(object.contains("data")) << object.dump();
    EXPECT_EQ(nameOf(object), "watched");
  }
}

TEST_F(KubeClientTest, WatchWithSelectors) {
  std::string ns = makeNamespace();
  auto listed = client_->listAll(kConfigMaps, ns);
  WatchOptions options;
  options.resourceVersion = listed.resourceVersion;
  options.labelSelector = "app=agent";
  WatchRecorder watch;
  watch.start(*client_, ns, options);
  client_->create(kConfigMaps, ns, configMap("other", {{"app", "web"}}));
  client_->create(kConfigMaps, ns, configMap("mine", {{"app", "agent"}}));
  ASSERT_TRUE(watch.waitFor(1, seconds(5)));
  watch.stop();
  EXPECT_EQ(watch.events(), std::vector<std::string>{"ADDED mine"});
}

TEST_F(KubeClientTest, WatchGivesUpAfterMaxConsecutiveFailures) {
  Config config = this->config();
  config.server = "https://127.0.0.1:1";
  Client client(config, fastRetries());
  WatchOptions options;
  options.maxConsecutiveFailures = 2;
  options.initialBackoff = milliseconds(10);
  int reconnects = 0;
  options.onReconnect = [&](const std::string&) { ++reconnects; };
  EXPECT_THROW(client.watch(kConfigMaps, "default", options, [](const WatchEvent&) {}),
               TransportError);
  EXPECT_EQ(reconnects, 2);
}

TEST_F(KubeClientTest, EventsAreRecordedAndAggregated) {
  std::string ns = makeNamespace();
  auto cm = client_->create(kConfigMaps, ns, configMap("subject"));
  EventRecorder recorder(*client_, "agentproxy");
  EXPECT_EQ(recorder.record(cm, EventType::kWarning, "ProbeFailed", "proxy refused CONNECT"), "");
  EXPECT_EQ(recorder.record(cm, EventType::kWarning, "ProbeFailed", "proxy refused CONNECT"), "");
  EXPECT_EQ(recorder.record(cm, EventType::kNormal, "Classified", "Supported"), "");
  auto events = client_->listAll(resources::events(), ns).items;
  ASSERT_EQ(events.size(), 2u);
  std::map<std::string, nlohmann::json> byReason;
  for (auto& e : events) byReason[e["reason"]] = e;
  EXPECT_EQ(byReason["ProbeFailed"]["count"], 2);
  EXPECT_EQ(byReason["ProbeFailed"]["type"], "Warning");
  EXPECT_EQ(byReason["ProbeFailed"]["involvedObject"]["name"], "subject");
  EXPECT_EQ(byReason["ProbeFailed"]["involvedObject"]["uid"], cm["metadata"]["uid"]);
  EXPECT_EQ(byReason["Classified"]["count"], 1);

  // A failure is reported, not thrown.
  nlohmann::json ghost = {{"apiVersion", "v1"},
                          {"kind", "ConfigMap"},
                          {"metadata", {{"name", "ghost"}, {"namespace", "no-such-ns"}}}};
  EXPECT_THAT(recorder.record(ghost, EventType::kNormal, "R", "m"), HasSubstr("404"));
}

TEST_F(KubeClientTest, LeaseCreateGetUpdateAndConflict) {
  std::string ns = makeNamespace();
  EXPECT_FALSE(getLease(*client_, ns, "leader").has_value());
  Lease lease;
  lease.ns = ns;
  lease.name = "leader";
  lease.holderIdentity = "pod-a";
  lease.leaseDurationSeconds = 15;
  lease.acquireTime = std::chrono::system_clock::now();
  lease.renewTime = lease.acquireTime;
  Lease created = createLease(*client_, lease);
  EXPECT_FALSE(created.resourceVersion.empty());
  EXPECT_THROW(createLease(*client_, lease), AlreadyExistsError);

  auto read = getLease(*client_, ns, "leader");
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->holderIdentity, "pod-a");
  EXPECT_EQ(std::chrono::floor<std::chrono::microseconds>(*read->renewTime),
            std::chrono::floor<std::chrono::microseconds>(*lease.renewTime));

  Lease renewed = *read;
  renewed.renewTime = std::chrono::system_clock::now();
  Lease afterRenew = updateLease(*client_, renewed);
  EXPECT_NE(afterRenew.resourceVersion, read->resourceVersion);

  Lease rival = *read;  // read before the renewal: stale
  rival.holderIdentity = "pod-b";
  rival.leaseTransitions = 1;
  EXPECT_THROW(updateLease(*client_, rival), ConflictError);
  EXPECT_EQ(getLease(*client_, ns, "leader")->holderIdentity, "pod-a");
}

}  // namespace
}  // namespace agentproxy::kube
