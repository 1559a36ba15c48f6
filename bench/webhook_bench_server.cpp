// webhook_bench_server: the injection webhook as bench/webhook_bench.sh measures it, with the real
// mutation (webhook::admitPod, as `agentproxy run` installs it, with two ProxyPolicies prepared
// as the operator prepares them), behind either HTTPS server:
//   --impl beast    webhook::AdmissionServer (what the operator ships)
//   --impl cpprest  a minimal cpprestsdk http_listener over HTTPS, for comparison
// Usage:
//   webhook_bench_server --impl beast|cpprest --port P --cert F --key F [--threads 2]
//                        [--handler mutation|static]
//       serves until SIGTERM or SIGINT; prints "listening on P" once it accepts.
//   webhook_bench_server --print-request    the ~3 KB AdmissionReview the load generator sends
//   webhook_bench_server --print-response   what the handler answers to it (nginx serves that)
//   webhook_bench_server --time-handler     each handler's cost per call, without a server
#include <signal.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "policy/no_proxy.h"
#include "policy/proxy_policy.h"
#include "webhook/admission.h"
#include "webhook/admission_review.h"
#include "webhook/admission_server.h"
#include "injection/pod_injection.h"
#include "webhook/policy_selection.h"

// bench/webhook_bench_cpprest.cpp: blocks until `stop` is signalled (sigwait on the caller's
// blocked signals), serving POST /mutate-v1-pod with `handler`.
void runCpprestListener(uint16_t port, const std::string& certFile, const std::string& keyFile,
                        unsigned threads,
                        const agentproxy::webhook::AdmissionServer::Handler& handler,
                        const sigset_t& stopSignals);

namespace {

namespace webhook = agentproxy::webhook;
namespace policy = agentproxy::policy;
using nlohmann::json;

// A Deployment's pod as the ReplicaSet controller creates it: two containers and an init
// container, env (plain, fieldRef, secretKeyRef), resources, probes, volumes, labels.
json admissionReview() {
  json pod = json::parse(R"({
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
      "generateName": "edge-agent-7d9f8c6b5-",
      "namespace": "workloads",
      "labels": {"app": "agent", "tier": "edge", "pod-template-hash": "7d9f8c6b5",
                 "app.kubernetes.io/name": "edge-agent", "app.kubernetes.io/version": "2.4.1"},
      "annotations": {"kubectl.kubernetes.io/default-container": "agent",
                      "prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
      "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                           "name": "edge-agent-7d9f8c6b5", "uid": "3f1c2a9e-8d7b-4c61-9a0e-5b2d7f4e1c38",
                           "controller": true, "blockOwnerDeletion": true}]
    },
    "spec": {
      "serviceAccountName": "edge-agent",
      "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "fsGroup": 10001},
      "initContainers": [
        {"name": "wait-config", "image": "registry.example/busybox:1.36",
         "command": ["sh", "-c", "until [ -f /etc/agent/config.yaml ]; do sleep 1; done"],
         "volumeMounts": [{"name": "config", "mountPath": "/etc/agent", "readOnly": true}],
         "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}
      ],
      "containers": [
        {
          "name": "agent",
          "image": "registry.example/agent:2.4.1",
          "args": ["--config=/etc/agent/config.yaml", "--log-format=json"],
          "ports": [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
          "env": [
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "MGMT_ENDPOINT", "value": "api.mgmt.example.com:443"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                            "fieldPath": "metadata.name"}}},
            {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                             "fieldPath": "spec.nodeName"}}},
            {"name": "AGENT_TOKEN", "valueFrom": {"secretKeyRef": {"name": "agent-token",
                                                                   "key": "token"}}}
          ],
          "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                        "limits": {"cpu": "1", "memory": "512Mi"}},
          "livenessProbe": {"httpGet": {"path": "/healthz", "port": 9090},
                            "periodSeconds": 10},
          "volumeMounts": [
            {"name": "config", "mountPath": "/etc/agent", "readOnly": true},
            {"name": "state", "mountPath": "/var/lib/agent"},
            {"name": "kube-api-access-x7k2p", "mountPath":
                 "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}
          ]
        },
        {
          "name": "log-shipper",
          "image": "registry.example/shipper:1.0.3",
          "env": [{"name": "SHIP_TO", "value": "https://logs.mgmt.example.com"}],
          "resources": {"requests": {"cpu": "20m", "memory": "32Mi"}},
          "volumeMounts": [{"name": "state", "mountPath": "/var/lib/agent", "readOnly": true}]
        }
      ],
      "volumes": [
        {"name": "config", "configMap": {"name": "agent-config", "defaultMode": 420}},
        {"name": "state", "emptyDir": {}},
        {"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
          {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
          {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
          {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                       "fieldPath": "metadata.namespace"}}]}}
        ]}}
      ],
      "tolerations": [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300}
      ],
      "restartPolicy": "Always",
      "dnsPolicy": "ClusterFirst",
      "terminationGracePeriodSeconds": 30
    }
  })");
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
            {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
            {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
            {"requestKind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
            {"requestResource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
            {"namespace", "workloads"},
            {"operation", "CREATE"},
            {"userInfo",
             {{"username", "system:serviceaccount:kube-system:replicaset-controller"},
              {"uid", "b1e4a7c2-0f3d-4e5a-9b8c-7d6e5f4a3b2c"},
              {"groups",
               {"system:serviceaccounts", "system:serviceaccounts:kube-system",
                "system:authenticated"}}}},
            {"object", pod},
            {"oldObject", nullptr},
            {"dryRun", false},
            {"options", {{"apiVersion", "meta.k8s.io/v1"}, {"kind", "CreateOptions"}}}}}};
}

std::vector<policy::ProxyPolicy> proxyPolicies() {
  auto make = [](const std::string& name, const std::string& app, bool credentials) {
    json spec = {
        {"proxy",
         {{"httpsProxy", "http://proxy.corp.example:3128"},
          {"noProxy", {".corp.example", "10.20.0.0/16", "registry.example"}}}},
        {"trust",
         {{"caBundles",
           {{{"configMapRef",
              {{"namespace", "agentproxy-system"}, {"name", "corp-ca"}, {"key", "ca.crt"}}}}}},
          {"includeSystemCAs", true}}},
        {"targets", {{{"address", "api.mgmt.example.com:443"}}}},
        {"selector",
         {{"namespaceSelector", {{"matchLabels", {{"agentproxy.io/inject", "enabled"}}}}},
          {"podSelector",
           {{"matchExpressions", {{{"key", "app"}, {"operator", "In"}, {"values", {app}}}}}}}}},
        {"injection", {{"enabled", true}}}};
    if (credentials) {
      spec["proxy"]["credentialsSecretRef"] = {{"namespace", "agentproxy-system"},
                                               {"name", "proxy-auth"}};
    }
    return policy::parseProxyPolicy({{"apiVersion", "agentproxy.io/v1alpha1"},
                                     {"kind", "ProxyPolicy"},
                                     {"metadata",
                                      {{"name", name},
                                       {"uid", "uid-" + name},
                                       {"generation", 3},
                                       {"resourceVersion", "48213"}}},
                                     {"spec", spec}});
  };
  return {make("corp-proxy", "agent", true), make("web-proxy", "web", false)};
}

// The webhook's decision for one AdmissionReview: webhook::admitPod(), what `agentproxy run`
// installs, over a snapshot prepared as the operator prepares it.
class Mutation {
 public:
  Mutation() {
    namespaces_["workloads"] = {
        "workloads",
        {{"agentproxy.io/inject", "enabled"}, {"kubernetes.io/metadata.name", "workloads"}}};
    admission_.policies = std::make_shared<std::vector<policy::ProxyPolicy>>(proxyPolicies());
    admission_.cluster.apiServerHost = "10.96.0.1";
    admission_.cluster.serviceCIDRs = {"10.96.0.0/12"};
    admission_.cluster.podCIDRs = {"10.244.0.0/16"};
    admission_.operatorNamespace = "agentproxy-system";
    webhook::prepareAdmission(admission_);
  }

  webhook::AdmissionHttpResponse operator()(std::string_view body) const {
    auto answer = webhook::admitPod(body, admission_, [this](const std::string& name) {
      auto found = namespaces_.find(name);
      return found == namespaces_.end() ? std::nullopt
                                        : std::optional<webhook::PodNamespace>(found->second);
    });
    return {answer.httpStatus, std::move(answer.body)};
  }

 private:
  std::map<std::string, webhook::PodNamespace> namespaces_;
  webhook::AdmissionPolicies admission_;
};

std::string readFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot read " + path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--print-request" || flag == "--print-response" || flag == "--time-handler") {
      flags[flag] = "1";
    } else if (i + 1 < argc) {
      flags[flag] = argv[++i];
    } else {
      std::fprintf(stderr, "webhook_bench_server: missing value for %s\n", flag.c_str());
      return 64;
    }
  }
  try {
    Mutation mutation;
    std::string review = admissionReview().dump();
    if (flags.count("--print-request")) {
      std::printf("%s", review.c_str());
      return 0;
    }
    if (flags.count("--print-response")) {
      auto answer = mutation(review);
      if (answer.status != 200) throw std::runtime_error("the handler answered " + answer.body);
      std::printf("%s", answer.body.c_str());
      return 0;
    }
    if (flags.count("--time-handler")) {
      // Each handler's own cost, without a server: per call on one thread, in CPU time (what
      // other processes on the machine do not change) and in wall time.
      auto time = [&review](const char* name, const webhook::AdmissionServer::Handler& handler) {
        constexpr int kCalls = 2000;
        size_t bytes = 0;
        timespec cpuStart{}, cpuEnd{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpuStart);
        auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < kCalls; ++i) bytes += handler(review).body.size();
        std::chrono::duration<double, std::micro> wall = std::chrono::steady_clock::now() - start;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpuEnd);
        double cpuUs = (static_cast<double>(cpuEnd.tv_sec - cpuStart.tv_sec) * 1e9 +
                        static_cast<double>(cpuEnd.tv_nsec - cpuStart.tv_nsec)) /
                       1e3;
        std::printf("%s: %.0f us CPU, %.0f us wall per call, %zu-byte answer\n", name,
                    cpuUs / kCalls, wall.count() / kCalls, bytes / kCalls);
      };
      time("mutation", [&](std::string_view body) { return mutation(body); });
      return 0;
    }
    std::string impl = flags["--impl"];
    int port = std::stoi(flags.at("--port"));
    unsigned threads = flags.count("--threads") ? std::stoul(flags["--threads"]) : 2;
    // Signals are taken by sigwait() on this thread only.
    sigset_t stopSignals;
    sigemptyset(&stopSignals);
    sigaddset(&stopSignals, SIGTERM);
    sigaddset(&stopSignals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);
    // --handler static answers every request with the mutation's answer, computed once: the
    // cost of the HTTPS server alone.
    std::string fixedAnswer = mutation(review).body;
    std::string handlerName = flags.count("--handler") ? flags["--handler"] : "mutation";
    webhook::AdmissionServer::Handler handler;
    if (handlerName == "static") {
      handler = [&fixedAnswer](std::string_view) {
        return webhook::AdmissionHttpResponse{200, fixedAnswer};
      };
    } else if (handlerName == "mutation") {
      handler = [&mutation](std::string_view body) { return mutation(body); };
    } else {
      std::fprintf(stderr, "webhook_bench_server: --handler is mutation or static\n");
      return 64;
    }
    if (impl == "beast") {
      webhook::AdmissionServer server("127.0.0.1:" + std::to_string(port),
                                      readFile(flags.at("--cert")), readFile(flags.at("--key")),
                                      handler, threads);
      std::printf("listening on %u\n", server.port());
      std::fflush(stdout);
      int signal = 0;
      sigwait(&stopSignals, &signal);
      server.stop();
    } else if (impl == "cpprest") {
      runCpprestListener(static_cast<uint16_t>(port), flags.at("--cert"), flags.at("--key"),
                         threads, handler, stopSignals);
    } else {
      std::fprintf(stderr, "webhook_bench_server: --impl is beast or cpprest\n");
      return 64;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "webhook_bench_server: %s\n", e.what());
    return 1;
  }
  return 0;
}
