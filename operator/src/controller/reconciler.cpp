#include "controller/reconciler.h"

#include "controller/policy_status.h"
#include "encoding/encoding.h"
#include "policy/no_proxy.h"
#include "policy/proxy_policy.h"
#include "probe/runtime_verdict.h"
#include "trust/ca_bundle.h"
#include "trust/truststore.h"
#include "injection/pod_injection.h"

namespace agentproxy::controller {
namespace {

const nlohmann::json& statusOf(const nlohmann::json& policy) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  auto it = policy.find("status");
  return it != policy.end() && it->is_object() ? *it : kEmpty;
}

int64_t generationOf(const nlohmann::json& policy) {
  auto metadata = policy.find("metadata");
  if (metadata == policy.end() || !metadata->is_object()) return 0;
  auto g = metadata->find("generation");
  return g != metadata->end() && g->is_number_integer() ? g->get<int64_t>() : 0;
}

std::string readyMessage(const nlohmann::json& status) {
  for (const auto& c : status.value("conditions", nlohmann::json::array())) {
    if (c.value("type", "") == "Ready") return c.value("message", "");
  }
  return "";
}

}  // namespace

probe::RuntimeContext Reconciler::runtimeContext(const policy::ProxyPolicy& policy,
                                                 const probe::ProxyUrl& proxy) const {
  probe::RuntimeContext context;
  context.runtimes = policy.spec.agentRuntimes;
  context.counted = !policy.spec.agentRuntimes.empty();
  auto isHttp = [](const std::string& url) { return url.rfind("http://", 0) == 0; };
  context.httpsProxy = !isHttp(policy.spec.httpsProxy);
  context.grpcProxyHttps = !isHttp(policy.spec.httpsProxy) && !isHttp(policy.spec.httpProxy);
  context.credentials = proxy.hasCredentials();
  context.credentialsWithAtSign = proxy.username.find('@') != std::string::npos ||
                                  proxy.password.find('@') != std::string::npos;
  context.noProxy = policy::effectiveNoProxyEntries(policy.spec.noProxy, cluster_);
  return context;
}

Reconciler::Reconciler(ObjectReader& reader, StatusWriter& writer, ProbeScheduler& scheduler,
                       InjectionWorld& injection, policy::ClusterNetwork cluster, WallClock now,
                       std::vector<std::string> sourceNamespaces, runtime::Redactor& redactor)
    : reader_(reader),
      writer_(writer),
      scheduler_(scheduler),
      injection_(injection),
      cluster_(std::move(cluster)),
      now_(std::move(now)),
      sourceNamespaces_(std::move(sourceNamespaces)),
      redactor_(redactor) {}

std::chrono::milliseconds Reconciler::jittered(std::chrono::milliseconds interval,
                                               const std::string& name) {
  auto spread = std::hash<std::string>{}(name) % 1000;  // 0..999 per mille of 10%
  return interval + interval * static_cast<int64_t>(spread) / 10000;
}

ReconcileResult Reconciler::reconcile(const nlohmann::json& object) {
  PolicyObservation seen;
  seen.generation = generationOf(object);
  policy::ProxyPolicy policy;
  try {
    policy = policy::parseProxyPolicy(object);
  } catch (const policy::SpecError& e) {
    seen.specValid = false;
    seen.specReason = "InvalidSpec";
    seen.specMessage = std::string(e.what()) + ".";
    return publish(object, seen);  // the next spec change brings the policy back
  }
  seen.effectiveNoProxy =
      policy::joinNoProxy(policy::effectiveNoProxyEntries(policy.spec.noProxy, cluster_));
  seen.warnings = policy::runtimeWarnings(policy.spec);

  ResolvedPolicy resolved;
  try {
    checkSourceNamespaces(policy, sourceNamespaces_);
    resolved = resolvePolicy(policy, reader_);
    // As soon as it is read: whatever text later holds it (a proxy's answer echoing it, an
    // error) is masked in logs, status and Events.
    redactor_.addProxyCredentials(resolved.request.proxy.username,
                                  resolved.request.proxy.password);
  } catch (const ReferenceError& e) {
    seen.specValid = false;
    seen.specReason = e.reason();
    seen.specMessage = e.what();
    auto result = publish(object, seen);
    result.requeueAfter = kReferenceRecheck;
    return result;
  }

  std::optional<std::chrono::milliseconds> restartRequeue;
  seen.injection = reconcileInjection(object, policy, resolved, restartRequeue);

  const auto interval = jittered(policy.spec.probeInterval, policy.name);
  const auto now = ProbeScheduler::Clock::now();
  auto last = scheduler_.latest(policy.name);
  bool current = last && last->fingerprint == resolved.fingerprint;
  bool due = !current || now >= last->finishedAt + interval;
  if (due && !scheduler_.pending(policy.name)) {
    scheduler_.request(policy.name, resolved.fingerprint, std::move(resolved.request));
  }
  if (!current) return {restartRequeue, false, seen.injection};  // the probe's completion requeues

  seen.probe = last->report;
  // Per agent runtime, from the probe's facts and what is injected (probe/runtime_verdict.h).
  auto before = seen.probe->warnings.size();
  probe::applyRuntimeVerdicts(*seen.probe, runtimeContext(policy, resolved.request.proxy));
  seen.warnings.insert(seen.warnings.end(), seen.probe->warnings.begin() + static_cast<long>(before),
                       seen.probe->warnings.end());
  auto result = publish(object, seen);
  result.injection = seen.injection;
  auto untilDue =
      std::chrono::duration_cast<std::chrono::milliseconds>(last->finishedAt + interval - now);
  result.requeueAfter = std::max(untilDue, std::chrono::milliseconds(1000));
  if (restartRequeue) result.requeueAfter = std::min(*result.requeueAfter, *restartRequeue);
  return result;
}

std::shared_ptr<const Reconciler::MergedBundle> Reconciler::caBundle(
    bool includeSystemCAs, const std::vector<std::pair<std::string, std::string>>& sources) {
  // Policies usually share their sources (often the system CAs alone): merge each distinct set
  // once an hour (expiry is judged against the time of the merge), not once per reconcile.
  std::string key = includeSystemCAs ? "system" : "";
  for (const auto& [origin, pem] : sources) key += "\n" + origin + "\n" + pem;
  key = encoding::sha256Hex(key);
  const auto now = std::chrono::system_clock::now();
  {
    std::lock_guard lock(bundleMutex_);
    auto it = bundles_.find(key);
    if (it != bundles_.end() && now < it->second->mergedAt + std::chrono::hours(1)) {
      return it->second;
    }
  }
  std::vector<trust::CaSource> input;
  for (const auto& [origin, pem] : sources) input.push_back({origin, pem});
  auto merged = trust::mergeCaBundle(includeSystemCAs ? injection_.systemCaPem() : "", input, now);
  std::shared_ptr<const std::string> truststore;
  if (merged.certificates > 0) {
    truststore = std::make_shared<const std::string>(trust::pkcs12Truststore(merged.pem));
  }
  auto bundle = std::make_shared<MergedBundle>(
      MergedBundle{std::make_shared<const std::string>(std::move(merged.pem)),
                   std::move(truststore), std::move(merged.hash), std::move(merged.expired),
                   now});
  std::lock_guard lock(bundleMutex_);
  if (bundles_.size() > 4096) bundles_.clear();  // bounded: sets of sources no policy uses go
  bundles_[key] = bundle;
  return bundle;
}

InjectionObservation Reconciler::reconcileInjection(
    const nlohmann::json& object, const policy::ProxyPolicy& policy, const ResolvedPolicy& resolved,
    std::optional<std::chrono::milliseconds>& requeue) {
  const auto& spec = policy.spec;
  InjectionObservation seen;
  seen.enabled = spec.injectionEnabled;
  seen.restartWorkloads = spec.restartWorkloads;

  InjectionDesire desire;
  desire.policy = &policy;
  if (injection::hasCaBundle(policy)) {
    auto bundle = caBundle(spec.includeSystemCAs, resolved.caSources);
    seen.caBundleHash = bundle->hash;
    seen.warnings.insert(seen.warnings.end(), bundle->expired.begin(), bundle->expired.end());
    desire.caBundlePem = bundle->pem;
    desire.caTruststore = bundle->truststore;
  }
  if (spec.credentials) {
    desire.proxyUser = resolved.request.proxy.username;
    desire.proxyPassword = resolved.request.proxy.password;
  }
  desire.hash =
      injection::injectionHash(injection::injectionForPolicy(policy, cluster_, seen.caBundleHash));

  auto plan = planInjection(desire, injection_.inputs(policy.name));
  // One namespace refusing a write (being deleted, a quota) must not stall the others, nor the
  // probe: the failures are reported and retried at the reference re-check.
  auto attempt = [&](const ObjectRef& ref, const std::function<void()>& write) {
    try {
      write();
    } catch (const CopyConflict& e) {
      seen.copyConflicts.push_back(e.what());
    } catch (const std::exception& e) {
      seen.copyFailures.push_back(ref.kind + " " + ref.namespace_ + "/" + ref.name + ": " +
                                  e.what());
    }
  };
  for (const auto& copy : plan.writes) {
    attempt(copy.ref, [&] { injection_.writeCopy(object, copy); });
  }
  for (const auto& ref : plan.deletes) {
    attempt(ref, [&] { injection_.deleteCopy(ref); });
  }
  if (!seen.copyFailures.empty() || !seen.copyConflicts.empty()) {
    requeue = std::chrono::milliseconds(kReferenceRecheck);
  }
  seen.namespaces = static_cast<int>(plan.namespaces.size());
  seen.selectedPods = plan.selectedPods;
  seen.injectedPods = plan.injectedPods;
  seen.stalePods = plan.stalePods;
  if (plan.outvotedPods > 0) {
    std::string winners;
    for (const auto& name : plan.outvotedBy) winners += (winners.empty() ? "" : ", ") + name;
    seen.warnings.push_back(
        std::to_string(plan.outvotedPods) +
        (plan.outvotedPods == 1 ? " pod this policy selects is" : " pods this policy selects are") +
        " injected by ProxyPolicy " + winners +
        " instead: when several policies select a pod, the alphabetically "
        "first name wins.");
  }

  seen.outvotedPods = plan.outvotedPods;
  if (!spec.restartWorkloads || plan.staleOwners.empty()) return seen;
  // The webhook stamps pods with the hash of the stored status.caBundleHash: restarting before
  // that is published would start pods that are stale already, and the workload, marked with
  // the new hash, would never be restarted again.
  if (object.value("/status/caBundleHash"_json_pointer, std::string()) != seen.caBundleHash) {
    requeue = std::chrono::milliseconds(1000);
    return seen;
  }
  std::lock_guard lock(restartMutex_);
  auto now = std::chrono::steady_clock::now();
  if (now < lastRestart_ + kRestartSpacing) {
    requeue =
        std::chrono::duration_cast<std::chrono::milliseconds>(lastRestart_ + kRestartSpacing - now);
    return seen;
  }
  for (const auto& owner : plan.staleOwners) {
    auto restarted = injection_.restartWorkload(owner, desire.hash, now_());
    if (!restarted) continue;
    lastRestart_ = now;
    writer_.recordEvent(object, false, "WorkloadRestarted",
                        redactor_.redact("Restarted " + restarted->kind + " " +
                                         restarted->namespace_ + "/" + restarted->name +
                                         " so that its pods start with the current proxy settings "
                                         "and CA bundle."));
    requeue = std::chrono::duration_cast<std::chrono::milliseconds>(kRestartSpacing);
    break;
  }
  return seen;
}

ReconcileResult Reconciler::publish(const nlohmann::json& policy, const PolicyObservation& seen) {
  const auto& current = statusOf(policy);
  auto desired = redactor_.redactJson(desiredStatus(current, seen, now_()));
  if (desired == current) return {};
  writer_.writeStatus(policy, desired);
  auto before = classificationOf(current);
  auto after = classificationOf(desired);
  if (before != after) {
    writer_.recordEvent(policy, after != "Supported", after,
                        redactor_.redact("Classification changed from " + before + " to " + after +
                                         ": " + readyMessage(desired)));
  }
  return {std::nullopt, true, std::nullopt};
}

}  // namespace agentproxy::controller
