#include "cli/run_command.h"

#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli/flags.h"
#include "cli/probe_command.h"
#include "controller/cluster_access.h"
#include "controller/cluster_network.h"
#include "controller/policy_controller.h"
#include "controller/webhook_certificates.h"
#include "encoding/object_metadata.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/errors.h"
#include "kube/resource.h"
#include "policy/no_proxy.h"
#include "probe/no_proxy_match.h"
#include "probe/proxy_url.h"
#include "runtime/leader_elector.h"
#include "runtime/logger.h"
#include "runtime/metrics.h"
#include "serving/http_endpoints.h"
#include "serving/listen_address.h"
#include "webhook/admission.h"
#include "webhook/admission_server.h"

namespace agentproxy::cli {

const char kRunUsage[] =
    "usage: agentproxy run [--kubeconfig F] [--metrics-addr :8080] [--health-addr :8081]\n"
    "                      [--webhook-addr :9443] [--webhook-cert-dir DIR]\n"
    "                      [--webhook-config-name agentproxy] [--webhook-service "
    "agentproxy-webhook]\n"
    "                      [--webhook-url https://HOST:PORT/mutate-v1-pod]\n"
    "                      [--leader-elect] [--namespace NS] [--lease-namespace NS]\n"
    "                      [--trust-source-namespaces NS,NS]\n"
    "                      [--workers N] [--log-level debug|info|warn|error]\n"
    "                      [--service-cidr CIDR]... [--pod-cidr CIDR]...\n"
    "\n"
    "An address is host:port, [ipv6]:port or :port (every interface, IPv6 and IPv4);\n"
    "\"0\" turns that endpoint off.\n"
    "Runs the ProxyPolicy controller against the cluster (in-cluster config, or the kubeconfig\n"
    "from --kubeconfig or KUBECONFIG) and serves the pod injection webhook (POST /mutate-v1-pod)\n"
    "over HTTPS. Its certificate comes from --webhook-cert-dir (tls.crt, tls.key; cert-manager)\n"
    "or, by default, from the Secret agentproxy-webhook-tls in the operator's namespace, which\n"
    "the operator creates and renews, writing its CA into the caBundle of the\n"
    "MutatingWebhookConfiguration --webhook-config-name. The certificate names the webhook\n"
    "Service, or with --webhook-url (an operator run outside its cluster, where the webhook\n"
    "configuration has clientConfig.url) that URL's host. The namespace defaults to\n"
    "$POD_NAMESPACE, else agentproxy-system. The Secrets and ConfigMaps that policies refer to\n"
    "are read only there and in the --trust-source-namespaces. The agents' NO_PROXY holds the\n"
    "cluster's Service and Pod CIDRs: --service-cidr and --pod-cidr (repeatable), else those the\n"
    "API lists at start (ServiceCIDR objects, Nodes' spec.podCIDRs). Stops on SIGTERM or SIGINT\n"
    "after the work in flight.\n";

namespace {

constexpr char kWebhookSecretName[] = "agentproxy-webhook-tls";

std::string envOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value && *value ? value : fallback;
}

std::string defaultIdentity() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return envOr("POD_NAME", std::string(host) + "_" + std::to_string(getpid()));
}

// A namespace name: an RFC 1123 label.
bool isDnsLabel(const std::string& name) {
  if (name.empty() || name.size() > 63 || name.front() == '-' || name.back() == '-') return false;
  for (char c : name) {
    if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '-') return false;
  }
  return true;
}

runtime::LogLevel levelFrom(const std::string& name) {
  if (name == "debug") return runtime::LogLevel::Debug;
  if (name == "info") return runtime::LogLevel::Info;
  if (name == "warn") return runtime::LogLevel::Warn;
  if (name == "error") return runtime::LogLevel::Error;
  throw probe::InputError("--log-level must be debug, info, warn or error (got \"" + name + "\")");
}

}  // namespace

std::string webhookUrlHost(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return probe::InputError("--webhook-url " + why + " (got \"" + url + "\")");
  };
  constexpr std::string_view kScheme = "https://";
  if (url.rfind(kScheme, 0) != 0) throw bad("must start with https://");
  std::string_view rest = std::string_view(url).substr(kScheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos) {
    throw bad("cannot have a query or fragment");
  }
  std::string_view authority = rest.substr(0, rest.find('/'));
  if (authority.find('@') != std::string_view::npos) throw bad("cannot carry user info");
  std::string_view host = authority;
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    if (close == std::string_view::npos) throw bad("has an IPv6 address without its ']'");
    host = host.substr(1, close - 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  if (host.empty()) throw bad("has no host");
  return std::string(host);
}

kube::ClientOptions namespaceLookupClientOptions() {
  kube::ClientOptions options;
  options.requestTimeout = kNamespaceLookupTimeout;
  options.maxRetries = 0;
  return options;
}

webhook::NamespaceLookup namespaceLookup(webhook::NamespaceLookup cached, kube::Client& live) {
  return [cached = std::move(cached), &live](const std::string& ns)
             -> std::optional<webhook::PodNamespace> {
    if (auto found = cached(ns)) return found;
    try {  // created a moment ago, not in the cache yet
      auto object = live.getMetadata(kube::resources::namespaces(), "", ns);
      return webhook::PodNamespace{ns, encoding::metadataMap(object, "labels")};
    } catch (const kube::NotFoundError&) {
      return std::nullopt;
    }
  };
}

RunOptions parseRunFlags(const std::vector<std::string>& args) {
  RunOptions options;
  FlagReader flags(args);
  while (auto next = flags.next()) {
    const std::string& flag = *next;
    auto takeValue = [&] { return flags.value(); };
    if (flag == "--kubeconfig") {
      options.kubeconfig = takeValue();
    } else if (flag == "--metrics-addr") {
      options.metricsAddr = takeValue();
    } else if (flag == "--health-addr") {
      options.healthAddr = takeValue();
    } else if (flag == "--webhook-addr") {
      options.webhookAddr = takeValue();
    } else if (flag == "--webhook-cert-dir") {
      options.webhookCertDir = takeValue();
    } else if (flag == "--webhook-config-name") {
      options.webhookConfigName = takeValue();
    } else if (flag == "--webhook-service") {
      options.webhookService = takeValue();
    } else if (flag == "--webhook-url") {
      options.webhookUrl = takeValue();
      webhookUrlHost(options.webhookUrl);
    } else if (flag == "--namespace") {
      options.ns = takeValue();
    } else if (flag == "--leader-elect") {
      options.leaderElect = flags.enabled();
    } else if (flag == "--trust-source-namespaces") {
      auto text = takeValue();
      size_t at = 0;
      while (at <= text.size()) {
        auto comma = text.find(',', at);
        auto name = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
        if (!isDnsLabel(name)) {
          throw probe::InputError("--trust-source-namespaces takes namespace names separated by "
                                  "commas; \"" + name + "\" is not a namespace name (got \"" +
                                  text + "\")");
        }
        options.trustSourceNamespaces.push_back(name);
        if (comma == std::string::npos) break;
        at = comma + 1;
      }
    } else if (flag == "--lease-namespace") {
      options.leaseNamespace = takeValue();
    } else if (flag == "--workers") {
      auto text = takeValue();
      try {
        options.workers = std::stoi(text);
      } catch (const std::exception&) {
        options.workers = 0;
      }
      if (options.workers < 1 || options.workers > 64) {
        throw probe::InputError("--workers must be a number from 1 to 64 (got \"" + text + "\")");
      }
    } else if (flag == "--service-cidr" || flag == "--pod-cidr") {
      auto cidr = takeValue();
      if (!probe::isCidr(cidr)) {
        throw probe::InputError(flag + " must be a CIDR range such as 10.96.0.0/12 (got \"" +
                                cidr + "\")");
      }
      (flag == "--service-cidr" ? options.serviceCIDRs : options.podCIDRs).push_back(cidr);
    } else if (flag == "--log-level") {
      options.logLevel = takeValue();
      levelFrom(options.logLevel);
    } else {
      throw probe::InputError("unknown flag \"" + flag + "\"");
    }
  }
  for (const auto& [addr, what] : {std::pair{&options.metricsAddr, "metrics"},
                                   std::pair{&options.healthAddr, "health"},
                                   std::pair{&options.webhookAddr, "webhook"}}) {
    if (*addr == "0") continue;  // disabled, as controller-runtime's "0"
    try {
      serving::parseListenAddress(*addr, what);
    } catch (const std::invalid_argument& e) {
      throw probe::InputError(e.what());
    }
  }
  if (options.ns.empty()) options.ns = envOr("POD_NAMESPACE", "agentproxy-system");
  if (options.leaseNamespace.empty()) options.leaseNamespace = options.ns;
  for (const auto* name : {&options.ns, &options.webhookConfigName, &options.webhookService}) {
    if (name->empty()) throw probe::InputError("a namespace or object name cannot be empty");
  }
  options.identity = defaultIdentity();
  return options;
}

namespace {

// Wakes the main thread on a stop signal or when leadership is lost; the first request's exit
// code wins.
class Shutdown {
 public:
  void request(int exitCode) {
    std::lock_guard lock(mutex_);
    if (!requested_) exitCode_ = exitCode;
    requested_ = true;
    cv_.notify_all();
  }
  int wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return requested_; });
    return exitCode_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool requested_ = false;
  int exitCode_ = 0;
};

// SIGTERM and SIGINT blocked in this thread and every thread started after it, so that only
// the waiter of watchStopSignals() takes them. Call before any thread starts.
sigset_t blockStopSignals() {
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGTERM);
  sigaddset(&stopSignals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);
  return stopSignals;
}

// The first stop signal asks for a drain with exit code 0, on a detached thread of its own.
void watchStopSignals(sigset_t stopSignals, runtime::Logger& log, Shutdown& shutdown) {
  std::thread([stopSignals, &log, &shutdown] {
    int sig = 0;
    sigwait(&stopSignals, &sig);
    log.info("stop signal: draining", {{"signal", sig}});
    shutdown.request(0);
  }).detach();
}

// The host of the API server's URL (without IPv6 brackets), for NO_PROXY; "" when the URL
// has no scheme.
std::string apiServerHost(const std::string& server) {
  auto at = server.find("://");
  if (at == std::string::npos) return "";
  auto host = server.substr(at + 3);
  host = host.substr(0, host.find('/'));
  if (!host.empty() && host.front() == '[') return host.substr(1, host.find(']') - 1);
  if (auto colon = host.rfind(':'); colon != std::string::npos) return host.substr(0, colon);
  return host;
}

// What the agents' NO_PROXY must hold of this cluster: the API server's host, and the Service
// and Pod CIDRs from the flags or, for those the flags leave out, from the API (logged).
policy::ClusterNetwork clusterNetwork(const RunOptions& options, kube::Client& client,
                                      runtime::Logger& log) {
  policy::ClusterNetwork cluster;
  cluster.apiServerHost = apiServerHost(client.config().server);
  auto found = controller::discoverClusterNetwork(client, options.serviceCIDRs.empty(),
                                                  options.podCIDRs.empty());
  cluster.serviceCIDRs = options.serviceCIDRs.empty() ? found.serviceCIDRs : options.serviceCIDRs;
  cluster.podCIDRs = options.podCIDRs.empty() ? found.podCIDRs : options.podCIDRs;
  for (const auto& problem : found.problems) log.warn(problem);
  log.info("cluster ranges for NO_PROXY",
           {{"serviceCIDRs", policy::joinNoProxy(cluster.serviceCIDRs)},
            {"podCIDRs", policy::joinNoProxy(cluster.podCIDRs)}});
  return cluster;
}

// The admission handler: admitPod over the controller's cached policies and namespaces,
// counted and timed in the metrics, logged (skipped and unchanged pods at debug only).
webhook::AdmissionServer::Handler admissionHandler(controller::PolicyController& policies,
                                                   webhook::NamespaceLookup lookupNamespace,
                                                   runtime::MetricsRegistry& metrics,
                                                   runtime::Logger& log) {
  auto& admissions = metrics.counter("agentproxy_admission_total",
                                     "Pod admissions by result (injected, unchanged, skipped, "
                                     "rejected, invalid).",
                                     {"result"});
  auto& admissionSeconds = metrics.histogram(
      "agentproxy_admission_duration_seconds", "Time to decide one pod admission.", {},
      {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1});
  return [&policies, lookupNamespace = std::move(lookupNamespace), &admissions, &admissionSeconds,
          &log](std::string_view body) {
    auto start = std::chrono::steady_clock::now();
    auto answer = webhook::admitPod(body, *policies.admissionPolicies(), lookupNamespace);
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    admissions.withLabels({answer.outcome}).inc();
    admissionSeconds.withLabels({}).observe(took.count());
    if (answer.outcome == "skipped" || answer.outcome == "unchanged") {
      log.debug("admission", {{"result", answer.outcome}, {"detail", answer.detail}});
    } else {
      log.info("admission", {{"result", answer.outcome}, {"detail", answer.detail}});
    }
    return webhook::AdmissionHttpResponse{answer.httpStatus, std::move(answer.body)};
  };
}

// The pod injection webhook: its serving certificate (from --webhook-cert-dir, or a Secret
// the leader keeps), and the HTTPS server, started when the first certificate arrives and
// given each renewed one. A server that cannot start asks for shutdown with exit code 1.
// Namespaces the cache does not hold yet are looked up through a client of its own that
// tries once, so an admission never waits out the controller's retries.
class WebhookServing {
 public:
  WebhookServing(const RunOptions& options, kube::Client& client,
                 controller::PolicyController& policies, runtime::MetricsRegistry& metrics,
                 runtime::Logger& log, Shutdown& shutdown)
      : lookupClient_(client.config(), namespaceLookupClientOptions()) {
    auto handler = admissionHandler(
        policies,
        namespaceLookup([&policies](const std::string& ns) { return policies.namespaceOf(ns); },
                        lookupClient_),
        metrics, log);
    controller::WebhookCertificateOptions certOptions;
    certOptions.certDir = options.webhookCertDir;
    certOptions.ns = options.ns;
    certOptions.secretName = kWebhookSecretName;
    certOptions.webhookConfigName = options.webhookConfigName;
    certOptions.dnsNames =
        options.webhookUrl.empty()
            ? controller::serviceDnsNames(options.webhookService, options.ns)
            : std::vector<std::string>{webhookUrlHost(options.webhookUrl)};
    // Mounted files change without an event: look often, it costs two small reads.
    if (!options.webhookCertDir.empty()) certOptions.checkInterval = std::chrono::seconds(5);
    certificates_ = std::make_unique<controller::WebhookCertificates>(
        client, log, certOptions,
        [this, address = options.webhookAddr, handler, &log, &shutdown](const std::string& cert,
                                                                        const std::string& key) {
          std::lock_guard lock(mutex_);
          if (server_) {
            // Throws (keeping the old certificate) for a PEM it cannot use: the certificate
            // check logs it and tries again.
            server_->setCredentials(cert, key);
            return;
          }
          try {
            server_ = std::make_unique<webhook::AdmissionServer>(address, cert, key, handler);
            log.info("serving the pod injection webhook",
                     {{"address", address},
                      {"port", server_->port()},
                      {"path", std::string(webhook::AdmissionServer::kPath)}});
          } catch (const std::exception& e) {
            log.error("cannot serve the webhook", {{"error", e.what()}});
            shutdown.request(1);
          }
        });
  }

  controller::WebhookCertificates& certificates() { return *certificates_; }

  // For the drain: the namespace lookups stop retrying at once.
  void stopRetries() { lookupClient_.stopRetries(); }

  // The certificate keeper first (no new credentials arrive), then the server.
  void stop() {
    certificates_->stop();
    std::lock_guard lock(mutex_);
    if (server_) server_->stop();
  }

 private:
  kube::Client lookupClient_;
  std::unique_ptr<controller::WebhookCertificates> certificates_;
  std::mutex mutex_;  // guards server_ (set on the certificate thread, stopped on main)
  std::unique_ptr<webhook::AdmissionServer> server_;
};

// /healthz and /readyz (ready once the informers have synced and the webhook, if any, has a
// certificate) on --health-addr, /metrics on --metrics-addr; "0" leaves one out. Throws when
// an address cannot be listened on.
struct HttpServing {
  std::unique_ptr<serving::HttpEndpoints> health;
  std::unique_ptr<serving::HttpEndpoints> metrics;
};

HttpServing serveHttpEndpoints(const RunOptions& options, controller::PolicyController& policies,
                               controller::WebhookCertificates* certificates,
                               runtime::MetricsRegistry& metrics) {
  HttpServing out;
  if (options.healthAddr != "0") {
    out.health = std::make_unique<serving::HttpEndpoints>(
        options.healthAddr,
        std::map<std::string, serving::HttpEndpoints::Handler>{
            {"/healthz",
             [] {
               return serving::HttpResponse{200, "text/plain", "ok\n"};
             }},
            {"/readyz", [&policies, certificates] {
               return policies.synced() && (!certificates || certificates->ready())
                          ? serving::HttpResponse{200, "text/plain", "ok\n"}
                          : serving::HttpResponse{503, "text/plain",
                                                  "informers not synced or no webhook "
                                                  "certificate yet\n"};
             }}});
  }
  if (options.metricsAddr != "0") {
    out.metrics = std::make_unique<serving::HttpEndpoints>(
        options.metricsAddr,
        std::map<std::string, serving::HttpEndpoints::Handler>{
            {"/metrics", [&metrics] {
               return serving::HttpResponse{200, "text/plain; version=0.0.4", metrics.render()};
             }}});
  }
  return out;
}

// Who reconciles: with --leader-elect, the replica that holds the Lease (losing it asks for
// shutdown with exit code 1, unless a stop signal is what ended it); without, this replica,
// at once. Leading means: the agentproxy_leader gauge at 1, the webhook certificate kept,
// the controller reconciling.
class Leadership {
 public:
  Leadership(const RunOptions& options, kube::Client& client,
             controller::PolicyController& policies, controller::WebhookCertificates* certificates,
             runtime::MetricsRegistry& metrics, runtime::Logger& log, Shutdown& shutdown)
      : options_(options),
        client_(client),
        policies_(policies),
        certificates_(certificates),
        leader_(metrics.gauge("agentproxy_leader", "1 while this replica leads.")),
        log_(log),
        shutdown_(shutdown) {
    leader_.withLabels({}).set(0);
  }

  void start() {
    if (!options_.leaderElect) {
      lead();
      return;
    }
    leaseStore_ = std::make_unique<controller::ClientLeaseStore>(client_, options_.leaseNamespace,
                                                                 options_.leaseName);
    runtime::LeaderElectionConfig config;
    config.identity = options_.identity;
    runtime::LeaderCallbacks callbacks;
    callbacks.onStartedLeading = [this] {
      log_.info("leading", {{"identity", options_.identity}});
      lead();
    };
    callbacks.onStoppedLeading = [this] {
      leader_.withLabels({}).set(0);
      if (stopping_) {
        log_.info("leadership released", {{"identity", options_.identity}});
        return;
      }
      log_.warn("leadership lost", {{"identity", options_.identity}});
      shutdown_.request(1);
    };
    callbacks.onNewLeader = [this](const std::string& who) {
      log_.info("leader observed", {{"leader", who}});
    };
    elector_ = std::make_unique<runtime::LeaderElector>(*leaseStore_, config, callbacks);
    election_ = std::thread([this] { elector_->run(); });
  }

  // From now on, the end of leading is a release, not a loss.
  void stopping() { stopping_ = true; }

  // Releases the Lease, so that another replica takes over at once.
  void stop() {
    if (!elector_) return;
    elector_->stop();
    election_.join();
  }

 private:
  void lead() {
    leader_.withLabels({}).set(1);
    if (certificates_) certificates_->setLeader(true);
    policies_.startReconciling();
  }

  const RunOptions& options_;
  kube::Client& client_;
  controller::PolicyController& policies_;
  controller::WebhookCertificates* certificates_;
  runtime::GaugeFamily& leader_;
  runtime::Logger& log_;
  Shutdown& shutdown_;
  std::atomic<bool> stopping_{false};
  std::unique_ptr<controller::ClientLeaseStore> leaseStore_;
  std::unique_ptr<runtime::LeaderElector> elector_;
  std::thread election_;
};

}  // namespace

int runOperator(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::cout << kRunUsage;
      return 0;
    }
  }
  RunOptions options;
  try {
    options = parseRunFlags(args);
  } catch (const probe::InputError& e) {
    std::cerr << "agentproxy run: " << e.what() << "\n";
    return kExitUsage;
  }
  sigset_t stopSignals = blockStopSignals();
  // glibc gives each thread that allocates its own arena; with probes on many short-lived
  // threads that multiplies the heap for no gain on a 2-core pod.
  mallopt(M_ARENA_MAX, 2);
  runtime::Logger log(std::cerr, levelFrom(options.logLevel));
  kube::configureHttpThreads(4);
  std::unique_ptr<kube::Client> client;
  try {
    client = std::make_unique<kube::Client>(kube::defaultConfig(options.kubeconfig));
  } catch (const std::exception& e) {
    log.error("cannot configure the Kubernetes client", {{"error", e.what()}});
    return 1;
  }

  Shutdown shutdown;
  runtime::MetricsRegistry metrics;
  std::unique_ptr<WebhookServing> webhook;
  controller::ControllerOptions controllerOptions;
  controllerOptions.workers = options.workers;
  controllerOptions.operatorNamespace = options.ns;
  controllerOptions.trustSourceNamespaces = options.trustSourceNamespaces;
  controllerOptions.cluster = clusterNetwork(options, *client, log);
  controllerOptions.secretChanged = [&](const std::string& ns, const std::string& name) {
    if (webhook && ns == options.ns && name == kWebhookSecretName) webhook->certificates().poke();
  };
  controller::PolicyController policies(*client, log, metrics, controllerOptions);
  if (options.webhookAddr != "0") {
    webhook = std::make_unique<WebhookServing>(options, *client, policies, metrics, log, shutdown);
  }
  controller::WebhookCertificates* certificates = webhook ? &webhook->certificates() : nullptr;
  Leadership leadership(options, *client, policies, certificates, metrics, log, shutdown);
  HttpServing endpoints;
  try {
    endpoints = serveHttpEndpoints(options, policies, certificates, metrics);
  } catch (const std::exception& e) {
    log.error("cannot serve health or metrics", {{"error", e.what()}});
    return 1;
  }

  watchStopSignals(stopSignals, log, shutdown);
  policies.startInformers();
  if (certificates) certificates->start();
  log.info("agentproxy started", {{"identity", options.identity},
                                  {"leaderElect", options.leaderElect},
                                  {"server", client->config().server}});
  leadership.start();

  int exitCode = shutdown.wait();
  leadership.stopping();
  // The drain must fit the pod's grace period: no call waits out a Retry-After from now on.
  client->stopRetries();
  if (webhook) webhook->stopRetries();
  policies.stop();  // drain the work in flight before giving the lease away
  if (webhook) webhook->stop();
  leadership.stop();
  log.info("agentproxy stopped", {{"exitCode", exitCode}});
  return exitCode;
}

}  // namespace agentproxy::cli
