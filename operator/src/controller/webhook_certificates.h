// The webhook's serving certificate, kept fresh without a restart, in one of two modes:
//   - operator-managed (default): a CA and a serving certificate in the Secret `secretName` of
//     the operator's namespace (keys ca.crt, ca.key, tls.crt, tls.key). Any replica creates it
//     when it is missing; only the leader renews it (when a third of its lifetime remains, or
//     when it no longer covers the Service's names) and writes the CA into the caBundle of
//     every webhook of the MutatingWebhookConfiguration `webhookConfigName`. When the CA itself
//     is replaced the caBundle holds the new and the old CA, so requests in flight still verify.
//   - mounted files (cert-manager): `certDir`/tls.crt and tls.key, read again when they change;
//     caBundle is cert-manager's business (its CA injector).
// Every replica delivers each new certificate and key to `onCredentials` (the HTTPS server's
// setCredentials), and checks again every `checkInterval` or at once after poke().
//
// Guarantees: the private keys never appear in logs or errors; a Secret that is not usable (a
// key that does not match, a certificate that does not verify against its CA for the Service's
// name) is never served and, by the leader, replaced; writes use the Secret's resourceVersion,
// so two replicas cannot overwrite each other's renewal.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/logger.h"

namespace agentproxy::kube {
class Client;
}

namespace agentproxy::controller {

struct WebhookCertificateOptions {
  std::string certDir;  // set: the mounted-files mode
  std::string ns = "agentproxy-system";
  std::string secretName = "agentproxy-webhook-tls";
  std::string webhookConfigName = "agentproxy";
  // The names the API server dials: service, service.ns, service.ns.svc, ...cluster.local.
  std::vector<std::string> dnsNames;
  std::chrono::seconds checkInterval{30};
};

// service, service.ns, service.ns.svc, service.ns.svc.cluster.local
std::vector<std::string> serviceDnsNames(const std::string& service, const std::string& ns);

class WebhookCertificates {
 public:
  using OnCredentials = std::function<void(const std::string& certPem, const std::string& keyPem)>;

  WebhookCertificates(kube::Client& client, runtime::Logger& log, WebhookCertificateOptions options,
                      OnCredentials onCredentials);
  ~WebhookCertificates();
  WebhookCertificates(const WebhookCertificates&) = delete;
  WebhookCertificates& operator=(const WebhookCertificates&) = delete;

  // Starts the checks on a thread of its own; the first runs at once.
  void start();
  void setLeader(bool leader);
  // Check now (the Secret changed).
  void poke();
  void stop();

  // Whether credentials have been delivered at least once.
  bool ready() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace agentproxy::controller
