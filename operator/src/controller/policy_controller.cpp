#include "controller/policy_controller.h"

#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "controller/cluster_access.h"
#include "controller/copy_tracker.h"
#include "controller/informer.h"
#include "controller/policy_index.h"
#include "controller/probe_scheduler.h"
#include "controller/reconciler.h"
#include "encoding/encoding.h"
#include "encoding/object_metadata.h"
#include "injection/pod_injection.h"
#include "kube/client.h"
#include "kube/event_recorder.h"
#include "kube/timestamps.h"
#include "policy/proxy_policy.h"
#include "probe/pem.h"
#include "runtime/work_queue.h"

namespace agentproxy::controller {
namespace {

std::vector<std::string> sourceNamespaces(const ControllerOptions& options) {
  std::vector<std::string> out{options.operatorNamespace};
  for (const auto& ns : options.trustSourceNamespaces) {
    if (ns != options.operatorNamespace) out.push_back(ns);
  }
  return out;
}

// The controller's metrics families, registered once.
struct ControllerMetrics {
  explicit ControllerMetrics(runtime::MetricsRegistry& m)
      : reconciles(m.counter("agentproxy_reconcile_total", "Reconciles of ProxyPolicies by result.",
                             {"result"})),
        reconcileErrors(m.counter("agentproxy_reconcile_errors_total",
                                  "Reconciles that failed and were retried.")),
        queueDepth(m.gauge("agentproxy_workqueue_depth", "Policies waiting to be reconciled.")),
        probeDuration(m.histogram("agentproxy_probe_duration_seconds",
                                  "Duration of a policy's probe by classification.", {"result"},
                                  {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60})),
        classification(m.gauge("agentproxy_policy_classification",
                               "1 for the current classification of each policy.",
                               {"policy", "classification"})),
        injectedPods(m.gauge("agentproxy_injected_pods",
                             "Selected pods running with the policy's current injection.",
                             {"policy"})),
        stalePods(m.gauge("agentproxy_stale_pods",
                          "Selected pods running without the policy's current injection.",
                          {"policy"})) {}

  // A deleted policy's series go with it.
  void forget(const std::string& key) {
    for (const char* c : kClassifications) classification.remove({key, c});
    injectedPods.remove({key});
    stalePods.remove({key});
  }

  // 1 for `current`, 0 for the other classifications of `key`.
  void publishClassification(const std::string& key, const std::string& current) {
    for (const char* c : kClassifications) {
      classification.withLabels({key, c}).set(current == c ? 1 : 0);
    }
  }

  static constexpr const char* kClassifications[] = {"Supported", "Warn", "Unsupported", "Unknown"};
  runtime::CounterFamily& reconciles;
  runtime::CounterFamily& reconcileErrors;
  runtime::GaugeFamily& queueDepth;
  runtime::HistogramFamily& probeDuration;
  runtime::GaugeFamily& classification;
  runtime::GaugeFamily& injectedPods;
  runtime::GaugeFamily& stalePods;
};

}  // namespace

// The controller's parts and their wiring: informers feed the PolicyIndex, the CopyTracker and
// the work queue; workers reconcile through the Reconciler, which sees the cluster through
// this InjectionWorld.
struct PolicyController::State : InjectionWorld {
  State(kube::Client& c, runtime::Logger& l, runtime::MetricsRegistry& m, ControllerOptions o)
      : client(c),
        log(l),
        options(std::move(o)),
        metrics(m),
        index(options.cluster, options.operatorNamespace),
        events(c, options.component),
        reader(c),
        writer(c, events),
        scheduler([this](const probe::ProbeRequest& r) { return timedProbe(r); },
                  options.probeConcurrency, [this](const std::string& key) { queue.add(key); }),
        injectionWriter(c,
                        [this](const ObjectRef& ref) {
                          return (ref.kind == "Secret" ? secrets : configMaps)
                              .get(ref.namespace_ + "/" + ref.name);
                        }),
        reconciler(
            reader, writer, scheduler, *this, options.cluster,
            [] { return kube::formatTime(std::chrono::system_clock::now()); },
            sourceNamespaces(options), l.redactor()),
        policies(c, kube::resources::proxyPolicies(),
                 {[this](const nlohmann::json& o) { policyChanged(o); },
                  [this](const nlohmann::json& o) { policyDeleted(o); }},
                 l, Informer::withoutBookkeeping),
        secrets(c, kube::resources::secrets(),
                {[this](const nlohmann::json& o) { objectChanged(o, true, false); },
                 [this](const nlohmann::json& o) { objectChanged(o, true, true); }},
                l, Informer::metadataOnly, Informer::Fetch::kMetadataOnly),
        configMaps(c, kube::resources::configMaps(),
                   {[this](const nlohmann::json& o) { objectChanged(o, false, false); },
                    [this](const nlohmann::json& o) { objectChanged(o, false, true); }},
                   l, Informer::metadataOnly, Informer::Fetch::kMetadataOnly),
        namespaces(c, kube::resources::namespaces(),
                   {[this](const nlohmann::json&) { enqueueAll(); },
                    [this](const nlohmann::json&) { enqueueAll(); }},
                   l, Informer::metadataOnly, Informer::Fetch::kMetadataOnly),
        pods(c, kube::resources::pods(),
             {[this](const nlohmann::json& o) { podChanged(o); },
              [this](const nlohmann::json& o) { podChanged(o); }},
             l, Informer::podEssentials) {}

  probe::ProbeReport timedProbe(const probe::ProbeRequest& request) {
    auto start = std::chrono::steady_clock::now();
    auto report = probe::runProbe(request);
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    metrics.probeDuration.withLabels({std::string(probe::toString(report.classification))})
        .observe(took.count());
    return report;
  }

  void enqueue(const std::string& key) {
    queue.add(key);
    metrics.queueDepth.withLabels({}).set(static_cast<double>(queue.len()));
  }

  void forget(const std::string& key) {
    scheduler.forget(key);
    queue.forget(key);
    metrics.forget(key);
    log.info("policy deleted: probing stops", {{"policy", key}});
  }

  void policyChanged(const nlohmann::json& object) {
    auto key = Informer::keyOf(object);
    index.upsert(key, object);
    enqueue(key);
  }

  void policyDeleted(const nlohmann::json& object) {
    auto key = Informer::keyOf(object);
    index.erase(key);
    forget(key);
    if (reconciling) deleteCopiesOf(key);
  }

  // A Secret or ConfigMap: a policy's reference, or one of the operator's copies.
  void objectChanged(const nlohmann::json& object, bool secret, bool deleted) {
    auto ns = object.value("/metadata/namespace"_json_pointer, std::string());
    auto name = object.value("/metadata/name"_json_pointer, std::string());
    if (!secret) reader.forgetConfigMap(ns, name);
    if (CopyTracker::isCopy(object)) {
      auto owner = CopyTracker::ownerOf(object);
      const char* kind = secret ? "Secret" : "ConfigMap";
      deleted ? copies.deleted(kind, object) : copies.changed(kind, object);
      if (!owner.empty()) enqueue(owner);  // a copy changed or removed by someone: restore it
      return;
    }
    if (secret && options.secretChanged) options.secretChanged(ns, name);
    auto keys = index.keysWhere(
        [&](const policy::ProxyPolicy& p) { return refersTo(p, secret, ns, name); });
    for (const auto& key : keys) enqueue(key);
  }

  void podChanged(const nlohmann::json& pod) {
    auto owner =
        encoding::metadataMap(pod, "annotations")[std::string(injection::kPolicyAnnotation)];
    if (!owner.empty()) {
      enqueue(owner);
      return;
    }
    // Not injected: it counts as stale for whichever policy selects its namespace.
    auto ns = pod.value("/metadata/namespace"_json_pointer, std::string());
    auto labels = namespaceLabels(ns);
    auto keys = index.keysWhere([&](const policy::ProxyPolicy& p) {
      return p.spec.injectionEnabled && labels && p.spec.namespaceSelector.matches(*labels);
    });
    for (const auto& key : keys) enqueue(key);
  }

  void enqueueAll() {
    for (const auto& p : policies.list()) enqueue(Informer::keyOf(p));
  }

  std::optional<std::map<std::string, std::string>> namespaceLabels(const std::string& ns) {
    auto object = namespaces.get(ns);
    if (!object) return std::nullopt;
    return encoding::metadataMap(*object, "labels");
  }

  void deleteCopiesOf(const std::string& policyName) {
    for (const auto& ref : copies.refsOf(policyName)) {
      try {
        injectionWriter.deleteCopy(ref);
      } catch (const std::exception& e) {
        log.warn("cannot delete a copy of a deleted policy",
                 {{"policy", policyName},
                  {"object", ref.kind + " " + ref.namespace_ + "/" + ref.name},
                  {"error", e.what()}});
      }
    }
  }

  // Copies whose policy is gone (deleted while no replica led): removed when leading starts.
  void sweepOrphanCopies() {
    for (const auto& owner : copies.owners()) {
      if (!policies.get(owner)) deleteCopiesOf(owner);
    }
  }

  // InjectionWorld
  InjectionInputs inputs(const std::string& policyName) override {
    InjectionInputs in;
    for (const auto& ns : namespaces.list()) {
      in.namespaces.push_back({ns.value("/metadata/name"_json_pointer, std::string()),
                               encoding::metadataMap(ns, "labels")});
    }
    in.podsIn = [this](const std::string& ns) { return pods.listNamespace(ns); };
    in.policies = [this] { return index.snapshot(); };
    in.copies = copies.objectsOf(policyName);
    in.operatorNamespace = options.operatorNamespace;
    in.credentialsKey = credentialsKey;
    return in;
  }
  void writeCopy(const nlohmann::json& policy, const CopyObject& copy) override {
    injectionWriter.writeCopy(policy, copy);
  }
  void deleteCopy(const ObjectRef& copy) override { injectionWriter.deleteCopy(copy); }
  std::optional<ObjectRef> restartWorkload(const ObjectRef& owner, const std::string& hash,
                                           const std::string& now) override {
    return injectionWriter.restartWorkload(owner, hash, now);
  }
  const std::string& systemCaPem() override { return probe::systemRootsPem(); }

  void work() {
    while (auto key = queue.get()) {
      metrics.queueDepth.withLabels({}).set(static_cast<double>(queue.len()));
      reconcileOne(*key);
      queue.done(*key);
    }
  }

  void reconcileOne(const std::string& key) {
    auto object = policies.get(key);
    if (!object) {
      queue.forget(key);  // deleted meanwhile
      return;
    }
    try {
      auto result = reconciler.reconcile(*object);
      queue.forget(key);
      if (result.requeueAfter) queue.addAfter(key, *result.requeueAfter);
      metrics.reconciles.withLabels({result.wroteStatus ? "updated" : "unchanged"}).inc();
      if (result.injection) {
        metrics.injectedPods.withLabels({key}).set(result.injection->injectedPods);
        metrics.stalePods.withLabels({key}).set(result.injection->stalePods);
      }
      publishClassification(key);
    } catch (const std::exception& e) {
      metrics.reconciles.withLabels({"error"}).inc();
      metrics.reconcileErrors.withLabels({}).inc();
      log.warn("reconcile failed, will retry",
               {{"policy", key}, {"error", e.what()}, {"retries", queue.numRequeues(key)}});
      queue.addRateLimited(key);
    }
  }

  void publishClassification(const std::string& key) {
    auto result = scheduler.latest(key);
    if (!result) return;
    metrics.publishClassification(key, std::string(probe::toString(result->report.classification)));
  }

  kube::Client& client;
  runtime::Logger& log;
  ControllerOptions options;
  ControllerMetrics metrics;
  PolicyIndex index;
  CopyTracker copies;
  runtime::WorkQueue queue;
  kube::EventRecorder events;
  ClientObjectReader reader;
  ClientStatusWriter writer;
  ProbeScheduler scheduler;
  ClientInjectionWriter injectionWriter;
  Reconciler reconciler;
  std::atomic<bool> reconciling{false};
  const std::string credentialsKey = encoding::randomBytes(32);  // see InjectionInputs
  Informer policies;
  Informer secrets;
  Informer configMaps;
  Informer namespaces;
  Informer pods;
  std::vector<std::jthread> informerThreads;
  // Leadership arrives on the elector's thread while a stop signal may be stopping everything
  // on the main one: `workers` and `stopped` are touched only under `lifecycle`, and no worker
  // is started once stop() has begun.
  std::mutex lifecycle;
  bool stopped = false;
  std::vector<std::thread> workers;
};

PolicyController::PolicyController(kube::Client& client, runtime::Logger& log,
                                   runtime::MetricsRegistry& metrics, ControllerOptions options)
    : state_(std::make_unique<State>(client, log, metrics, std::move(options))) {}

PolicyController::~PolicyController() { stop(); }

void PolicyController::startInformers() {
  for (Informer* informer : {&state_->policies, &state_->secrets, &state_->configMaps,
                             &state_->namespaces, &state_->pods}) {
    state_->informerThreads.emplace_back([informer](std::stop_token stop) { informer->run(stop); });
  }
}

bool PolicyController::synced() const {
  return state_->policies.synced() && state_->secrets.synced() && state_->configMaps.synced() &&
         state_->namespaces.synced() && state_->pods.synced();
}

std::shared_ptr<const webhook::AdmissionPolicies> PolicyController::admissionPolicies() const {
  return state_->index.admissionPolicies();
}

std::optional<webhook::PodNamespace> PolicyController::namespaceOf(const std::string& name) const {
  auto labels = state_->namespaceLabels(name);
  if (!labels) return std::nullopt;
  return webhook::PodNamespace{name, std::move(*labels)};
}

void PolicyController::startReconciling() {
  {
    std::lock_guard lock(state_->lifecycle);
    if (state_->stopped) {
      state_->log.info("not reconciling: stopping");
      return;
    }
    state_->reconciling = true;
  }
  state_->log.info("reconciling ProxyPolicies", {{"workers", state_->options.workers}});
  state_->sweepOrphanCopies();
  for (const auto& p : state_->policies.list()) state_->enqueue(Informer::keyOf(p));
  // Not under the lock while the sweep talks to the API server, so a stop is never held up by
  // it; checked again before any worker starts.
  std::lock_guard lock(state_->lifecycle);
  if (state_->stopped) return;
  for (int i = 0; i < state_->options.workers; ++i) {
    state_->workers.emplace_back([s = state_.get()] { s->work(); });
  }
}

void PolicyController::stop() {
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(state_->lifecycle);
    state_->stopped = true;
    workers.swap(state_->workers);
  }
  state_->queue.shutDownWithDrain();
  for (auto& w : workers) w.join();
  for (auto& t : state_->informerThreads) t.request_stop();
  state_->informerThreads.clear();  // jthread joins
}

}  // namespace agentproxy::controller
