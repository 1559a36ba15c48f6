// Realistic pods and policies shared by the webhook tests.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "policy/proxy_policy.h"

namespace agentproxy::webhook::testing {

// An agent pod as the API server hands it to the webhook: an init container without env, an
// agent container with plain and valueFrom env, its own volume and mount, a sidecar without env.
inline nlohmann::json agentPod() {
  return nlohmann::json::parse(R"({
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
      "generateName": "agent-7d9f-",
      "namespace": "workloads",
      "labels": {"app": "agent", "tier": "edge"},
      "annotations": {"kubectl.kubernetes.io/default-container": "agent"}
    },
    "spec": {
      "initContainers": [
        {"name": "wait-config", "image": "busybox:1.36", "command": ["sh", "-c", "true"]}
      ],
      "containers": [
        {
          "name": "agent",
          "image": "registry.example/agent:2.4.1",
          "env": [
            {"name": "LOG_LEVEL", "value": "info"},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                            "fieldPath": "metadata.name"}}},
            {"name": "AGENT_TOKEN", "valueFrom": {"secretKeyRef": {"name": "agent-token",
                                                                   "key": "token"}}}
          ],
          "volumeMounts": [
            {"name": "config", "mountPath": "/etc/agent", "readOnly": true},
            {"name": "kube-api-access-x7k2p", "mountPath":
                 "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}
          ]
        },
        {"name": "log-shipper", "image": "registry.example/shipper:1.0"}
      ],
      "volumes": [
        {"name": "config", "configMap": {"name": "agent-config", "defaultMode": 420}},
        {"name": "kube-api-access-x7k2p", "projected": {"sources": []}}
      ]
    }
  })");
}

// A ProxyPolicy as the API server returns it; `extraSpec` is merged into spec.
inline policy::ProxyPolicy proxyPolicy(const std::string& name,
                                       const nlohmann::json& extraSpec = nlohmann::json::object()) {
  nlohmann::json object = {
      {"apiVersion", "agentproxy.io/v1alpha1"},
      {"kind", "ProxyPolicy"},
      {"metadata", {{"name", name}, {"uid", "uid-" + name}, {"generation", 1}}},
      {"spec",
       {{"proxy", {{"httpsProxy", "http://proxy.corp.example:3128"}}},
        {"targets", {{{"address", "api.mgmt.example.com:443"}}}},
        {"selector",
         {{"namespaceSelector", {{"matchLabels", {{"agentproxy.io/inject", "enabled"}}}}},
          {"podSelector",
           {{"matchExpressions",
             {{{"key", "app"}, {"operator", "In"}, {"values", {"agent"}}}}}}}}}}}};
  object["spec"].merge_patch(extraSpec);
  return policy::parseProxyPolicy(object);
}

}  // namespace agentproxy::webhook::testing
