// `agentproxy run`: the operator process. Flags in, then informers, leader election, the
// controller, the admission webhook and the health/metrics endpoints until SIGTERM or SIGINT.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "kube/client.h"
#include "webhook/admission.h"

namespace agentproxy::cli {

struct RunOptions {
  std::optional<std::string> kubeconfig;
  std::string metricsAddr = ":8080";
  std::string healthAddr = ":8081";
  std::string webhookAddr = ":9443";
  std::string webhookCertDir;  // set: serve tls.crt/tls.key from it (cert-manager)
  std::string webhookConfigName = "agentproxy";
  std::string webhookService = "agentproxy-webhook";
  // Set: the API server dials this URL (clientConfig.url), so the serving certificate names
  // its host instead of the Service's names. For an operator run outside its cluster.
  std::string webhookUrl;
  bool leaderElect = false;
  std::string ns;              // the operator's namespace: POD_NAMESPACE, else agentproxy-system
  // Where else referenced Secrets and ConfigMaps may live (--trust-source-namespaces a,b).
  std::vector<std::string> trustSourceNamespaces;
  std::string leaseNamespace;  // default: ns
  std::string leaseName = "agentproxy-leader";
  std::string identity;  // default: POD_NAME, else hostname_pid
  int workers = 4;
  std::string logLevel = "info";
  // The cluster's Service and Pod CIDRs for NO_PROXY; empty: discovered from the API
  // (ServiceCIDR objects, Nodes' spec.podCIDRs).
  std::vector<std::string> serviceCIDRs;
  std::vector<std::string> podCIDRs;
};

// The host (without IPv6 brackets) of a webhook URL as Kubernetes accepts it in
// clientConfig.url: https, a host, no user info, query or fragment. Throws probe::InputError.
std::string webhookUrlHost(const std::string& url);

// The webhook's namespace lookup: the informer's cache (`cached`), and for a namespace it does
// not hold yet (created a moment ago) one GET through `live`, which must be a client made with
// namespaceLookupClientOptions(): a single try bounded well under the API server's 5 s webhook
// timeout, never the controller's retries. A namespace that does not exist is nullopt; any
// other failure throws (the admission answers it as an error).
constexpr std::chrono::milliseconds kNamespaceLookupTimeout{2000};
webhook::NamespaceLookup namespaceLookup(webhook::NamespaceLookup cached, kube::Client& live);
kube::ClientOptions namespaceLookupClientOptions();

// Throws probe::InputError with a one-line reason.
RunOptions parseRunFlags(const std::vector<std::string>& args);

// Runs until a stop signal (exit 0), or until leadership is lost (exit 1, so that Kubernetes
// restarts the replica as a follower, as controller-runtime does); 64 on a usage error.
int runOperator(const std::vector<std::string>& args);

extern const char kRunUsage[];

}  // namespace agentproxy::cli
