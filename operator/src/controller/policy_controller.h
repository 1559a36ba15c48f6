// The ProxyPolicy controller: informers feed a rate-limited work queue, workers reconcile,
// probes run on their own bounded pool.
//
// It also keeps each policy's injection in place (copies, pod counts, restarts: reconciler.h)
// and deletes a deleted policy's copies.
//
// Guarantees: every replica keeps the informers' caches (the webhook serves from them);
// only after startReconciling() (the leader) does anything get probed or written. A change
// of a policy, or of a Secret or ConfigMap it refers to, enqueues the policy; errors are
// retried with per-key exponential backoff under an overall rate limit; stop() drains the
// work in flight. Secrets, ConfigMaps and Namespaces are listed and watched as metadata only
// (their data never reaches the operator); a referenced Secret or ConfigMap is read by name.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "policy/no_proxy.h"
#include "runtime/logger.h"
#include "runtime/metrics.h"
#include "webhook/admission.h"

namespace agentproxy::kube {
class Client;
}

namespace agentproxy::controller {

struct ControllerOptions {
  int workers = 4;
  size_t probeConcurrency = 16;
  policy::ClusterNetwork cluster;
  std::string component = "agentproxy";                 // source.component of Events
  std::string operatorNamespace = "agentproxy-system";  // never injected
  // Besides operatorNamespace, where referenced Secrets and ConfigMaps may live (the chart's
  // trustSources.namespaces, each granted by a Role there). A reference elsewhere is
  // SpecValid=False SourceNamespaceNotTrusted.
  std::vector<std::string> trustSourceNamespaces;
  // Told of every Secret change that is not one of the operator's copies (the webhook's
  // certificate Secret is one). Runs on the informer's thread: must be quick.
  std::function<void(const std::string& ns, const std::string& name)> secretChanged;
};

class PolicyController {
 public:
  PolicyController(kube::Client& client, runtime::Logger& log, runtime::MetricsRegistry& metrics,
                   ControllerOptions options);
  ~PolicyController();
  PolicyController(const PolicyController&) = delete;
  PolicyController& operator=(const PolicyController&) = delete;

  void startInformers();
  // Whether every informer has loaded its first list.
  bool synced() const;
  void startReconciling();

  // For the webhook, on every replica: the cached policies as a snapshot (rebuilt only after
  // a policy changed), and a namespace's labels (nullopt when the cache has no such namespace).
  std::shared_ptr<const webhook::AdmissionPolicies> admissionPolicies() const;
  std::optional<webhook::PodNamespace> namespaceOf(const std::string& name) const;
  // Stops the workers after the keys in flight, then the probes and the informers.
  void stop();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace agentproxy::controller
