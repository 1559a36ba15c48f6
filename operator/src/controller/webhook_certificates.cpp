#include "controller/webhook_certificates.h"

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "encoding/encoding.h"
#include "encoding/files.h"
#include "kube/client.h"
#include "kube/errors.h"
#include "trust/serving_certificate.h"

namespace agentproxy::controller {
namespace {

using nlohmann::json;

struct StoredCertificates {
  std::string caCertPem;  // the current CA first, then a previous one during a CA rotation
  std::string caKeyPem;
  std::string certPem;
  std::string keyPem;
  std::string resourceVersion;
  json ownerReferences;  // kept across renewals
};

std::string readFile(const std::string& path) {
  auto text = encoding::readFile(path);
  if (!text) throw std::runtime_error("cannot read " + path);
  return std::move(*text);
}

// The first PEM block of a bundle: the current CA of ca.crt.
std::string firstCertificate(const std::string& pem) {
  static const std::string kEnd = "-----END CERTIFICATE-----";
  auto end = pem.find(kEnd);
  return end == std::string::npos ? pem : pem.substr(0, end + kEnd.size()) + "\n";
}

}  // namespace

std::vector<std::string> serviceDnsNames(const std::string& service, const std::string& ns) {
  return {service, service + "." + ns, service + "." + ns + ".svc",
          service + "." + ns + ".svc.cluster.local"};
}

struct WebhookCertificates::State {
  kube::Client& client;
  runtime::Logger& log;
  WebhookCertificateOptions options;
  OnCredentials onCredentials;

  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  bool poked = false;
  std::atomic<bool> leader{false};
  std::atomic<bool> delivered{false};
  std::string servedCert;  // what onCredentials last got
  std::string servedKeyHash;
  std::thread thread;

  State(kube::Client& c, runtime::Logger& l, WebhookCertificateOptions o, OnCredentials cb)
      : client(c), log(l), options(std::move(o)), onCredentials(std::move(cb)) {}

  void deliver(const std::string& certPem, const std::string& keyPem) {
    auto keyHash = encoding::sha256Hex(keyPem);
    if (certPem == servedCert && keyHash == servedKeyHash) return;
    onCredentials(certPem, keyPem);
    servedCert = certPem;
    servedKeyHash = keyHash;
    delivered = true;
    auto times = trust::certificateTimes(certPem);
    log.info("webhook serving certificate loaded",
             {{"notAfter",
               std::chrono::duration_cast<std::chrono::seconds>(times.notAfter.time_since_epoch())
                   .count()},
              {"source", options.certDir.empty() ? "Secret " + options.ns + "/" + options.secretName
                                                 : options.certDir}});
  }

  void checkFiles() {
    auto cert = readFile(options.certDir + "/tls.crt");
    auto key = readFile(options.certDir + "/tls.key");
    if (!trust::keyMatches(cert, key)) {
      throw std::runtime_error(options.certDir + "/tls.key does not belong to tls.crt");
    }
    deliver(cert, key);
  }

  std::optional<StoredCertificates> readSecret() {
    json secret;
    try {
      secret = client.get(kube::resources::secrets(), options.ns, options.secretName);
    } catch (const kube::NotFoundError&) {
      return std::nullopt;
    }
    StoredCertificates stored;
    stored.resourceVersion = secret.value("/metadata/resourceVersion"_json_pointer, "");
    stored.ownerReferences = secret.value("/metadata/ownerReferences"_json_pointer, json());
    auto data = secret.value("data", json::object());
    auto field = [&](const char* key) {
      auto value = data.is_object() ? data.value(key, "") : "";
      try {
        return encoding::base64Decode(value);
      } catch (const std::exception&) {
        return std::string();
      }
    };
    stored.caCertPem = field("ca.crt");
    stored.caKeyPem = field("ca.key");
    stored.certPem = field("tls.crt");
    stored.keyPem = field("tls.key");
    return stored;
  }

  json secretObject(const StoredCertificates& c) {
    json metadata = {{"name", options.secretName},
                     {"namespace", options.ns},
                     {"labels", {{"app.kubernetes.io/managed-by", "agentproxy"}}}};
    if (!c.resourceVersion.empty()) metadata["resourceVersion"] = c.resourceVersion;
    if (c.ownerReferences.is_array()) metadata["ownerReferences"] = c.ownerReferences;
    return {{"metadata", metadata},
            {"type", "kubernetes.io/tls"},
            {"data",
             {{"ca.crt", encoding::base64Encode(c.caCertPem)},
              {"ca.key", encoding::base64Encode(c.caKeyPem)},
              {"tls.crt", encoding::base64Encode(c.certPem)},
              {"tls.key", encoding::base64Encode(c.keyPem)}}}};
  }

  trust::CertificateRequest request() const {
    trust::CertificateRequest r;
    // A webhook served at a URL may be named by an IP address (https://127.0.0.1:9443/...).
    for (const auto& name : options.dnsNames) {
      (trust::isIpAddress(name) ? r.ipAddresses : r.dnsNames).push_back(name);
    }
    r.now = std::chrono::system_clock::now();
    return r;
  }

  // Whether `stored` can be served as it is, and why not.
  std::string problemWith(const StoredCertificates& stored) const {
    const auto now = std::chrono::system_clock::now();
    if (stored.certPem.empty() || stored.keyPem.empty()) return "no tls.crt or tls.key";
    if (!trust::keyMatches(stored.certPem, stored.keyPem)) return "tls.key does not match";
    if (!trust::coversNames(stored.certPem, options.dnsNames)) {
      return "the certificate does not cover the Service's names";
    }
    if (!trust::verifiesWith(stored.certPem, stored.caCertPem, options.dnsNames.front(), now)) {
      return "the certificate does not verify against ca.crt";
    }
    if (trust::needsRenewal(stored.certPem, now)) return "the certificate is due for renewal";
    return "";
  }

  // A usable set of certificates derived from `stored` (renewed leaf, or new CA).
  StoredCertificates renewed(const StoredCertificates& stored) const {
    const auto now = std::chrono::system_clock::now();
    StoredCertificates next = stored;
    std::string currentCa = firstCertificate(stored.caCertPem);
    bool caUsable = !currentCa.empty() && !stored.caKeyPem.empty() &&
                    trust::keyMatches(currentCa, stored.caKeyPem) &&
                    !trust::needsRenewal(currentCa, now);
    if (caUsable) {
      try {
        auto leaf = trust::issueServingCertificate(currentCa, stored.caKeyPem, request());
        next.certPem = leaf.certPem;
        next.keyPem = leaf.keyPem;
        return next;
      } catch (const trust::TrustError&) {
        // fall through to a new CA
      }
    }
    auto created = trust::createWebhookCertificates(request());
    next.caCertPem = created.caCertPem;
    // Keep trusting the previous CA while pods of the API server may still hold it.
    if (!currentCa.empty() && trust::keyMatches(currentCa, stored.caKeyPem) &&
        std::chrono::system_clock::now() < trust::certificateTimes(currentCa).notAfter) {
      next.caCertPem += currentCa;
    }
    next.caKeyPem = created.caKeyPem;
    next.certPem = created.certPem;
    next.keyPem = created.keyPem;
    return next;
  }

  void checkSecret() {
    auto stored = readSecret();
    if (!stored) {
      auto created = trust::createWebhookCertificates(request());
      StoredCertificates fresh{created.caCertPem, created.caKeyPem, created.certPem, created.keyPem,
                               "", json()};
      auto secret = secretObject(fresh);
      try {
        // Owned by the webhook configuration: uninstalling the chart removes it with it.
        auto config = client.get(kube::resources::mutatingWebhookConfigurations(), "",
                                 options.webhookConfigName);
        secret["metadata"]["ownerReferences"] = {
            {{"apiVersion", kube::resources::mutatingWebhookConfigurations().apiVersion()},
             {"kind", "MutatingWebhookConfiguration"},
             {"name", options.webhookConfigName},
             {"uid", config.value("/metadata/uid"_json_pointer, std::string())}}};
      } catch (const kube::NotFoundError&) {
        // run outside the chart: nothing to belong to
      }
      try {
        client.create(kube::resources::secrets(), options.ns, secret);
        log.info("webhook certificate created",
                 {{"secret", options.ns + "/" + options.secretName}});
      } catch (const kube::AlreadyExistsError&) {
        // another replica was first: use theirs
      }
      stored = readSecret();
      if (!stored) throw std::runtime_error("the webhook Secret vanished right after creation");
    }
    auto problem = problemWith(*stored);
    if (!problem.empty() && leader) {
      auto next = renewed(*stored);
      try {
        client.update(kube::resources::secrets(), options.ns, options.secretName,
                      secretObject(next));
        log.info("webhook certificate renewed",
                 {{"secret", options.ns + "/" + options.secretName}, {"reason", problem}});
        stored = readSecret();
        problem = stored ? problemWith(*stored) : "the Secret vanished";
      } catch (const kube::ConflictError&) {
        // Someone else wrote it: look again. (The check runs without the lock; poke() and
        // run() read and write `poked` under it.)
        std::lock_guard lock(mutex);
        poked = true;
        return;
      }
    }
    if (!stored) return;
    if (problem.empty() || trust::keyMatches(stored->certPem, stored->keyPem)) {
      deliver(stored->certPem, stored->keyPem);
    }
    if (leader) writeCaBundle(stored->caCertPem);
  }

  void writeCaBundle(const std::string& caPem) {
    json config;
    try {
      config = client.get(kube::resources::mutatingWebhookConfigurations(), "",
                          options.webhookConfigName);
    } catch (const kube::NotFoundError&) {
      log.debug("no MutatingWebhookConfiguration to give the CA to",
                {{"name", options.webhookConfigName}});
      return;
    }
    const auto bundle = encoding::base64Encode(caPem);
    json patch = json::array();
    auto webhooks = config.value("webhooks", json::array());
    for (size_t i = 0; i < webhooks.size(); ++i) {
      auto current = webhooks[i].value("/clientConfig/caBundle"_json_pointer, std::string());
      if (current == bundle) continue;
      patch.push_back(
          {{"op", current.empty() &&
                          !webhooks[i].value("clientConfig", json::object()).contains("caBundle")
                      ? "add"
                      : "replace"},
           {"path", "/webhooks/" + std::to_string(i) + "/clientConfig/caBundle"},
           {"value", bundle}});
    }
    if (patch.empty()) return;
    client.patch(kube::resources::mutatingWebhookConfigurations(), "", options.webhookConfigName,
                 kube::PatchType::kJson, patch);
    log.info("webhook caBundle written",
             {{"mutatingWebhookConfiguration", options.webhookConfigName}});
  }

  void run() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      poked = false;
      lock.unlock();
      try {
        if (options.certDir.empty()) {
          checkSecret();
        } else {
          checkFiles();
        }
      } catch (const std::exception& e) {
        log.warn("webhook certificate check failed, will retry", {{"error", e.what()}});
      }
      lock.lock();
      // Quickly while nothing has been served yet, then at the check interval.
      auto wait = delivered
                      ? std::chrono::duration_cast<std::chrono::milliseconds>(options.checkInterval)
                      : std::chrono::milliseconds(2000);
      wake.wait_for(lock, wait, [&] { return stopping || poked; });
    }
  }
};

WebhookCertificates::WebhookCertificates(kube::Client& client, runtime::Logger& log,
                                         WebhookCertificateOptions options,
                                         OnCredentials onCredentials)
    : state_(std::make_unique<State>(client, log, std::move(options), std::move(onCredentials))) {
  if (state_->options.certDir.empty() && state_->options.dnsNames.empty()) {
    throw std::invalid_argument("the webhook certificate needs at least one DNS name");
  }
}

WebhookCertificates::~WebhookCertificates() { stop(); }

void WebhookCertificates::start() {
  state_->thread = std::thread([s = state_.get()] { s->run(); });
}

void WebhookCertificates::setLeader(bool leader) {
  state_->leader = leader;
  if (leader) poke();
}

void WebhookCertificates::poke() {
  std::lock_guard lock(state_->mutex);
  state_->poked = true;
  state_->wake.notify_all();
}

void WebhookCertificates::stop() {
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
    state_->wake.notify_all();
  }
  if (state_->thread.joinable()) state_->thread.join();
}

bool WebhookCertificates::ready() const { return state_->delivered; }

}  // namespace agentproxy::controller
