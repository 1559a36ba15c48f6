#include "controller/reconciler.h"

#include "controller/policy_status.h"
#include "policy/proxy_policy.h"

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

Reconciler::Reconciler(ObjectReader& reader, StatusWriter& writer, ProbeScheduler& scheduler,
                       policy::ClusterNetwork cluster, WallClock now)
    : reader_(reader),
      writer_(writer),
      scheduler_(scheduler),
      cluster_(std::move(cluster)),
      now_(std::move(now)) {}

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
    resolved = resolvePolicy(policy, reader_);
  } catch (const ReferenceError& e) {
    seen.specValid = false;
    seen.specReason = e.reason();
    seen.specMessage = e.what();
    auto result = publish(object, seen);
    result.requeueAfter = kReferenceRecheck;
    return result;
  }

  const auto interval = jittered(policy.spec.probeInterval, policy.name);
  const auto now = ProbeScheduler::Clock::now();
  auto last = scheduler_.latest(policy.name);
  bool current = last && last->fingerprint == resolved.fingerprint;
  bool due = !current || now >= last->finishedAt + interval;
  if (due && !scheduler_.pending(policy.name)) {
    scheduler_.request(policy.name, resolved.fingerprint, std::move(resolved.request));
  }
  if (!current) return {};  // the probe's completion requeues the policy

  seen.probe = last->report;
  auto result = publish(object, seen);
  auto untilDue =
      std::chrono::duration_cast<std::chrono::milliseconds>(last->finishedAt + interval - now);
  result.requeueAfter = std::max(untilDue, std::chrono::milliseconds(1000));
  return result;
}

ReconcileResult Reconciler::publish(const nlohmann::json& policy, const PolicyObservation& seen) {
  const auto& current = statusOf(policy);
  auto desired = desiredStatus(current, seen, now_());
  if (desired == current) return {};
  writer_.writeStatus(policy, desired);
  auto before = classificationOf(current);
  auto after = classificationOf(desired);
  if (before != after) {
    writer_.recordEvent(
        policy, after != "Supported", after,
        "Classification changed from " + before + " to " + after + ": " + readyMessage(desired));
  }
  return {std::nullopt, true};
}

}  // namespace agentproxy::controller
