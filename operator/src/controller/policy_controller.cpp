#include "controller/policy_controller.h"

#include <thread>
#include <vector>

#include "controller/cluster_access.h"
#include "controller/informer.h"
#include "controller/probe_scheduler.h"
#include "controller/reconciler.h"
#include "kube/client.h"
#include "kube/event_recorder.h"
#include "kube/timestamps.h"
#include "policy/proxy_policy.h"
#include "runtime/work_queue.h"

namespace agentproxy::controller {
namespace {

// Whether `policy` names the Secret or ConfigMap ns/name anywhere in its spec.
bool refersTo(const nlohmann::json& object, bool secret, const std::string& ns,
              const std::string& name) {
  policy::ProxyPolicy p;
  try {
    p = policy::parseProxyPolicy(object);
  } catch (const policy::SpecError&) {
    return false;
  }
  auto kind = secret ? policy::PemSource::Kind::Secret : policy::PemSource::Kind::ConfigMap;
  auto matches = [&](const policy::PemSource& s) {
    return s.kind == kind && s.namespace_ == ns && s.name == name;
  };
  if (secret && p.spec.credentials && p.spec.credentials->namespace_ == ns &&
      p.spec.credentials->name == name) {
    return true;
  }
  for (const auto& s : p.spec.caBundles) {
    if (matches(s)) return true;
  }
  for (const auto& t : p.spec.targets) {
    if (t.serverCA && matches(*t.serverCA)) return true;
  }
  return false;
}

}  // namespace

struct PolicyController::State {
  State(kube::Client& c, runtime::Logger& l, runtime::MetricsRegistry& m, ControllerOptions o)
      : client(c),
        log(l),
        options(std::move(o)),
        reconciles(m.counter("agentproxy_reconcile_total", "Reconciles of ProxyPolicies by result.",
                             {"result"})),
        reconcileErrors(m.counter("agentproxy_reconcile_errors_total",
                                  "Reconciles that failed and were retried.")),
        queueDepth(m.gauge("agentproxy_workqueue_depth", "Policies waiting to be reconciled."))
            ,
        probeDuration(m.histogram("agentproxy_probe_duration_seconds",
                                  "Duration of a policy's probe by classification.", {"result"},
                                  {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60})),
        classification(m.gauge("agentproxy_policy_classification",
                               "1 for the current classification of each policy.",
                               {"policy", "classification"})),
        events(c, options.component),
        reader(c),
        writer(c, events),
        scheduler([this](const probe::ProbeRequest& r) { return timedProbe(r); },
                  options.probeConcurrency, [this](const std::string& key) { queue.add(key); }),
        reconciler(reader, writer, scheduler, options.cluster,
                   [] { return kube::formatTime(std::chrono::system_clock::now()); }),
        policies(c, kube::resources::proxyPolicies(),
                 {[this](const nlohmann::json& o) { enqueue(Informer::keyOf(o)); },
                  [this](const nlohmann::json& o) { forget(Informer::keyOf(o)); }},
                 l),
        secrets(c, kube::resources::secrets(),
                {[this](const nlohmann::json& o) { referenceChanged(o, true); },
                 [this](const nlohmann::json& o) { referenceChanged(o, true); }},
                l, false),
        configMaps(c, kube::resources::configMaps(),
                   {[this](const nlohmann::json& o) { referenceChanged(o, false); },
                    [this](const nlohmann::json& o) { referenceChanged(o, false); }},
                   l, false) {}

  probe::ProbeReport timedProbe(const probe::ProbeRequest& request) {
    auto start = std::chrono::steady_clock::now();
    auto report = probe::runProbe(request);
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    probeDuration.withLabels({std::string(probe::toString(report.classification))})
        .observe(took.count());
    return report;
  }

  void enqueue(const std::string& key) {
    queue.add(key);
    queueDepth.withLabels({}).set(static_cast<double>(queue.len()));
  }

  void forget(const std::string& key) {
    scheduler.forget(key);
    queue.forget(key);
    for (const char* c : {"Supported", "Warn", "Unsupported", "Unknown"}) {
      classification.remove({key, c});
    }
    log.info("policy deleted: probing stops", {{"policy", key}});
  }

  void referenceChanged(const nlohmann::json& object, bool secret) {
    auto ns = object.value("/metadata/namespace"_json_pointer, std::string());
    auto name = object.value("/metadata/name"_json_pointer, std::string());
    for (const auto& p : policies.list()) {
      if (refersTo(p, secret, ns, name)) enqueue(Informer::keyOf(p));
    }
  }

  void work() {
    while (auto key = queue.get()) {
      queueDepth.withLabels({}).set(static_cast<double>(queue.len()));
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
      reconciles.withLabels({result.wroteStatus ? "updated" : "unchanged"}).inc();
      publishClassification(key);
    } catch (const std::exception& e) {
      reconciles.withLabels({"error"}).inc();
      reconcileErrors.withLabels({}).inc();
      log.warn("reconcile failed, will retry",
               {{"policy", key}, {"error", e.what()}, {"retries", queue.numRequeues(key)}});
      queue.addRateLimited(key);
    }
  }

  void publishClassification(const std::string& key) {
    auto result = scheduler.latest(key);
    if (!result) return;
    std::string current(probe::toString(result->report.classification));
    for (const char* c : {"Supported", "Warn", "Unsupported", "Unknown"}) {
      classification.withLabels({key, c}).set(current == c ? 1 : 0);
    }
  }

  kube::Client& client;
  runtime::Logger& log;
  ControllerOptions options;
  runtime::CounterFamily& reconciles;
  runtime::CounterFamily& reconcileErrors;
  runtime::GaugeFamily& queueDepth;
  runtime::HistogramFamily& probeDuration;
  runtime::GaugeFamily& classification;
  runtime::WorkQueue queue;
  kube::EventRecorder events;
  ClientObjectReader reader;
  ClientStatusWriter writer;
  ProbeScheduler scheduler;
  Reconciler reconciler;
  Informer policies;
  Informer secrets;
  Informer configMaps;
  std::vector<std::jthread> informerThreads;
  std::vector<std::thread> workers;
};

PolicyController::PolicyController(kube::Client& client, runtime::Logger& log,
                                   runtime::MetricsRegistry& metrics, ControllerOptions options)
    : state_(std::make_unique<State>(client, log, metrics, std::move(options))) {}

PolicyController::~PolicyController() { stop(); }

void PolicyController::startInformers() {
  for (Informer* informer : {&state_->policies, &state_->secrets, &state_->configMaps}) {
    state_->informerThreads.emplace_back(
        [informer](std::stop_token stop) { informer->run(stop); });
  }
}

bool PolicyController::synced() const {
  return state_->policies.synced() && state_->secrets.synced() && state_->configMaps.synced();
}

void PolicyController::startReconciling() {
  state_->log.info("reconciling ProxyPolicies", {{"workers", state_->options.workers}});
  for (const auto& p : state_->policies.list()) state_->enqueue(Informer::keyOf(p));
  for (int i = 0; i < state_->options.workers; ++i) {
    state_->workers.emplace_back([s = state_.get()] { s->work(); });
  }
}

void PolicyController::stop() {
  state_->queue.shutDownWithDrain();
  for (auto& w : state_->workers) w.join();
  state_->workers.clear();
  for (auto& t : state_->informerThreads) t.request_stop();
  state_->informerThreads.clear();  // jthread joins
}

}  // namespace agentproxy::controller
