#include "injection/pod_injection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "webhook_fixtures.h"

namespace agentproxy::injection {
namespace {

using nlohmann::json;
using webhook::testing::agentPod;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using webhook::testing::proxyPolicy;

constexpr const char* kNoProxy = "localhost,127.0.0.1,169.254.169.254,.svc,.cluster.local";
constexpr const char* kProxy = "http://proxy.corp.example:3128";

Injection plainInjection() {
  return injectionFor(proxyPolicy("corp-proxy"), kNoProxy, "", "agentproxy-ca-bundle");
}

// Applies the patch with our applier and checks that nlohmann's own agrees.
json patched(const json& pod, const Injection& injection) {
  json patch = podPatch(pod, injection);
  json result = pod.patch(patch);
  EXPECT_EQ(result, pod.patch(patch));
  return result;
}

std::vector<std::string> envNames(const json& container) {
  std::vector<std::string> names;
  for (const auto& entry : container["env"]) names.push_back(entry["name"]);
  return names;
}

const json& envEntry(const json& container, const std::string& name) {
  for (const auto& entry : container["env"]) {
    if (entry["name"] == name) return entry;
  }
  static const json kMissing;
  ADD_FAILURE() << "no env " << name << " in container " << container["name"];
  return kMissing;
}

// What the kubelet does with $(VAR): the values of earlier entries, secrets resolved from
// `secret` (other valueFrom sources read as empty); an unresolvable reference stays as written.
std::map<std::string, std::string> kubeletEnv(const json& container,
                                              const std::map<std::string, std::string>& secret) {
  std::map<std::string, std::string> env;
  for (const auto& entry : container["env"]) {
    std::string value;
    if (entry.contains("valueFrom")) {
      const json& from = entry["valueFrom"];
      if (from.contains("secretKeyRef")) {
        auto it = secret.find(from["secretKeyRef"]["key"].get<std::string>());
        if (it != secret.end()) value = it->second;
      }
    } else {
      auto raw = entry["value"].get<std::string>();
      for (size_t i = 0; i < raw.size();) {
        size_t close = raw.find(')', i);
        if (raw.compare(i, 2, "$(") == 0 && close != std::string::npos &&
            env.count(raw.substr(i + 2, close - i - 2))) {
          value += env[raw.substr(i + 2, close - i - 2)];
          i = close + 1;
        } else {
          value += raw[i++];
        }
      }
    }
    env[entry["name"].get<std::string>()] = value;
  }
  return env;
}

TEST(PodPatch, EveryContainerAndInitContainerGetsProxyAndCaBundle) {
  json pod = patched(agentPod(), plainInjection());
  const json& spec = pod["spec"];
  for (const json* container :
       {&spec["initContainers"][0], &spec["containers"][0], &spec["containers"][1]}) {
    SCOPED_TRACE(container->at("name").get<std::string>());
    for (const char* name :
         {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "GRPC_PROXY", "grpc_proxy"}) {
      EXPECT_EQ(envEntry(*container, name), json({{"name", name}, {"value", kProxy}}));
    }
    EXPECT_EQ(envEntry(*container, "NO_PROXY")["value"], kNoProxy);
    EXPECT_EQ(envEntry(*container, "no_proxy")["value"], kNoProxy);
    for (const char* name : {"SSL_CERT_FILE", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
                             "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}) {
      EXPECT_EQ(envEntry(*container, name)["value"], "/etc/agentproxy/ca/ca-bundle.crt");
    }
    EXPECT_EQ(
        container->at("volumeMounts").back(),
        json({{"name", "agentproxy-ca"}, {"mountPath", "/etc/agentproxy/ca"}, {"readOnly", true}}));
    EXPECT_FALSE(envEntry(*container, "HTTPS_PROXY").contains("valueFrom"));
  }
  EXPECT_EQ(spec["volumes"].size(), 3u);
  EXPECT_EQ(spec["volumes"][2],
            json::parse(R"({"name": "agentproxy-ca", "configMap": {"name": "agentproxy-ca-bundle",
                            "items": [{"key": "ca-bundle.crt", "path": "ca-bundle.crt"},
                                      {"key": "ca-bundle.p12", "path": "ca-bundle.p12"}]}})"));
  const json& annotations = pod["metadata"]["annotations"];
  EXPECT_EQ(annotations["agentproxy.io/policy"], "corp-proxy");
  EXPECT_EQ(annotations["agentproxy.io/injection-hash"], injectionHash(plainInjection()));
  EXPECT_EQ(annotations["kubectl.kubernetes.io/default-container"], "agent");
}

TEST(PodPatch, TheUsersOwnEnvVolumesAndMountsAreKept) {
  json original = agentPod();
  json pod = patched(original, plainInjection());
  const json& agent = pod["spec"]["containers"][0];
  EXPECT_THAT(
      envNames(agent),
      ElementsAre("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
                  "GRPC_PROXY", "grpc_proxy", "no_grpc_proxy", "NODE_USE_ENV_PROXY",
                  "SSL_CERT_FILE", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", "NODE_EXTRA_CA_CERTS",
                  "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "JAVA_TOOL_OPTIONS", "LOG_LEVEL",
                  "POD_NAME", "AGENT_TOKEN"));
  const json& before = original["spec"]["containers"][0];
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(agent["env"][16 + i], before["env"][i]);
  EXPECT_EQ(agent["volumeMounts"][0], before["volumeMounts"][0]);
  EXPECT_EQ(agent["volumeMounts"][1], before["volumeMounts"][1]);
  EXPECT_EQ(pod["spec"]["volumes"][0], original["spec"]["volumes"][0]);
  EXPECT_EQ(pod["spec"]["volumes"][1], original["spec"]["volumes"][1]);
  EXPECT_EQ(agent["image"], before["image"]);
}

TEST(PodPatch, ContainersWithoutEnvOrMountsGetArraysCreatedByAdd) {
  json patch = podPatch(agentPod(), plainInjection());
  std::vector<std::string> adds;
  for (const auto& op : patch) {
    if (op["op"] == "add") adds.push_back(op["path"]);
  }
  EXPECT_THAT(adds, ::testing::IsSupersetOf(
                        {"/spec/initContainers/0/env", "/spec/initContainers/0/volumeMounts",
                         "/spec/containers/1/env", "/spec/containers/1/volumeMounts",
                         "/spec/containers/0/volumeMounts/-", "/spec/volumes/-",
                         "/metadata/annotations/agentproxy.io~1policy",
                         "/metadata/annotations/agentproxy.io~1injection-hash"}));

  json bare = json::parse(R"({"apiVersion": "v1", "kind": "Pod",
                              "spec": {"containers": [{"name": "a", "image": "a"}]}})");
  json pod = patched(bare, plainInjection());
  EXPECT_EQ(pod["metadata"]["annotations"]["agentproxy.io/policy"], "corp-proxy");
  EXPECT_EQ(pod["spec"]["volumes"].size(), 1u);
  EXPECT_EQ(envNames(pod["spec"]["containers"][0]).size(), 16u);
}

TEST(PodPatch, SecondInvocationIsEmpty) {
  policy::ProxyPolicy withCredentials = proxyPolicy(
      "corp-proxy",
      {{"proxy",
        {{"credentialsSecretRef", {{"namespace", "agentproxy-system"}, {"name", "proxy-auth"}}}}}});
  std::vector<Injection> injections = {
      plainInjection(),
      injectionFor(withCredentials, kNoProxy, "agentproxy-proxy-auth", "agentproxy-ca-bundle"),
      injectionFor(proxyPolicy("corp-proxy"), kNoProxy, "", "")};
  injections.push_back(injections[1]);
  injections.back().overrideExisting = true;
  for (const auto& injection : injections) {
    json pod = patched(agentPod(), injection);
    EXPECT_EQ(podPatch(pod, injection), json::array()) << pod.dump(2);
  }
}

TEST(PodPatch, ServerDefaultsOnOurVolumeAreNotDrift) {
  json pod = patched(agentPod(), plainInjection());
  pod["spec"]["volumes"][2]["configMap"]["defaultMode"] = 420;
  EXPECT_EQ(podPatch(pod, plainInjection()), json::array());
}

TEST(PodPatch, AUserProxyVariableInEitherCaseKeepsTheContainersProxySettings) {
  json pod = agentPod();
  pod["spec"]["containers"][0]["env"].push_back(
      {{"name", "https_proxy"}, {"value", "http://own-proxy:8080"}});
  pod["spec"]["containers"][0]["env"].push_back(
      {{"name", "SSL_CERT_FILE"}, {"value", "/etc/own/ca.crt"}});
  json result = patched(pod, plainInjection());
  const json& agent = result["spec"]["containers"][0];
  EXPECT_THAT(envNames(agent),
              ElementsAre("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", "NODE_EXTRA_CA_CERTS",
                          "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "JAVA_TOOL_OPTIONS",
                          "LOG_LEVEL", "POD_NAME", "AGENT_TOKEN", "https_proxy",
                          "SSL_CERT_FILE"));
  // The JVM's proxy is the container's own too: the truststore alone.
  EXPECT_EQ(envEntry(agent, "JAVA_TOOL_OPTIONS")["value"],
            "-Djavax.net.ssl.trustStore=/etc/agentproxy/ca/ca-bundle.p12 "
            "-Djavax.net.ssl.trustStoreType=PKCS12");
  EXPECT_EQ(envEntry(agent, "https_proxy")["value"], "http://own-proxy:8080");
  EXPECT_EQ(envEntry(agent, "SSL_CERT_FILE")["value"], "/etc/own/ca.crt");
  EXPECT_EQ(envEntry(result["spec"]["containers"][1], "HTTPS_PROXY")["value"], kProxy)
      << "the other containers are injected";
  EXPECT_EQ(podPatch(result, plainInjection()), json::array());
}

TEST(PodPatch, OverrideExistingReplacesTheUsersProxyVariablesAndKeepsTheRest) {
  json pod = agentPod();
  json& env = pod["spec"]["containers"][0]["env"];
  env.push_back({{"name", "HTTPS_PROXY"},
                 {"valueFrom", {{"configMapKeyRef", {{"name", "net"}, {"key", "proxy"}}}}}});
  env.push_back({{"name", "no_proxy"}, {"value", "old.example"}});
  env.push_back({{"name", "SSL_CERT_FILE"}, {"value", "/etc/own/ca.crt"}});
  Injection injection = plainInjection();
  injection.overrideExisting = true;
  json result = patched(pod, injection);
  const json& agent = result["spec"]["containers"][0];
  EXPECT_THAT(
      envNames(agent),
      ElementsAre("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
                  "GRPC_PROXY", "grpc_proxy", "no_grpc_proxy", "NODE_USE_ENV_PROXY",
                  "SSL_CERT_FILE", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", "NODE_EXTRA_CA_CERTS",
                  "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "JAVA_TOOL_OPTIONS", "LOG_LEVEL",
                  "POD_NAME", "AGENT_TOKEN"));
  EXPECT_EQ(envEntry(agent, "HTTPS_PROXY"), json({{"name", "HTTPS_PROXY"}, {"value", kProxy}}));
  EXPECT_EQ(envEntry(agent, "no_proxy")["value"], kNoProxy);
  EXPECT_EQ(envEntry(agent, "SSL_CERT_FILE")["value"], "/etc/agentproxy/ca/ca-bundle.crt");
  EXPECT_EQ(envEntry(agent, "AGENT_TOKEN")["valueFrom"]["secretKeyRef"]["name"], "agent-token");

  // The same pod without overrideExisting keeps the user's three.
  result = patched(pod, plainInjection());
  EXPECT_EQ(envEntry(result["spec"]["containers"][0],
                     "HTTPS_PROXY")["valueFrom"]["configMapKeyRef"]["name"],
            "net");
  EXPECT_EQ(envEntry(result["spec"]["containers"][0], "no_proxy")["value"], "old.example");
}

TEST(PodPatch, CredentialsComeOnlyFromTheSecretThroughExpansion) {
  policy::ProxyPolicy policy = proxyPolicy(
      "corp-proxy",
      {{"proxy",
        {{"httpProxy", "http://plain-proxy.corp.example:8080"},
         {"credentialsSecretRef", {{"namespace", "agentproxy-system"}, {"name", "proxy-auth"}}}}}});
  Injection injection = injectionFor(policy, kNoProxy, "agentproxy-proxy-auth", "");
  json patch = podPatch(agentPod(), injection);
  json pod = agentPod().patch(patch);
  const std::string password = "p%40ss:w0rd";  // what the Secret copy holds, percent-encoded

  const json& spec = pod["spec"];
  for (const json* containerPointer :
       {&spec["initContainers"][0], &spec["containers"][0], &spec["containers"][1]}) {
    const json& container = *containerPointer;
    std::vector<std::string> names = envNames(container);
    EXPECT_THAT(std::vector<std::string>(names.begin(), names.begin() + 3),
                ElementsAre("AGENTPROXY_PROXY_USER", "AGENTPROXY_PROXY_PASSWORD", "HTTPS_PROXY"));
    EXPECT_EQ(envEntry(container, "AGENTPROXY_PROXY_PASSWORD"),
              json::parse(R"({"name": "AGENTPROXY_PROXY_PASSWORD", "valueFrom": {"secretKeyRef":
                              {"name": "agentproxy-proxy-auth", "key": "password"}}})"));
    EXPECT_EQ(envEntry(container, "AGENTPROXY_PROXY_USER")["valueFrom"]["secretKeyRef"]["key"],
              "username");
    EXPECT_EQ(envEntry(container, "https_proxy")["value"],
              "http://$(AGENTPROXY_PROXY_USER):$(AGENTPROXY_PROXY_PASSWORD)@"
              "proxy.corp.example:3128");

    auto env = kubeletEnv(container, {{"username", "agent"}, {"password", password}});
    EXPECT_EQ(env["HTTPS_PROXY"], "http://agent:" + password + "@proxy.corp.example:3128");
    EXPECT_EQ(env["http_proxy"], "http://agent:" + password + "@plain-proxy.corp.example:8080");
    EXPECT_EQ(env["grpc_proxy"], env["https_proxy"]);
  }
  EXPECT_THAT(patch.dump(), Not(HasSubstr("p%40ss")));
  EXPECT_THAT(pod.dump(), Not(HasSubstr("p%40ss")));
  EXPECT_EQ(pod["spec"]["volumes"].size(), 2u) << "no CA bundle was named";
  EXPECT_THAT(envNames(pod["spec"]["containers"][1]), Not(::testing::Contains("SSL_CERT_FILE")));
}

TEST(PodPatch, OurVolumeAndMountOfAStaleInjectionAreBroughtUpToDate) {
  json pod = patched(agentPod(), plainInjection());
  pod["spec"]["volumes"][2]["configMap"]["name"] = "old-bundle";
  pod["spec"]["containers"][0]["volumeMounts"][2]["readOnly"] = false;
  json patch = podPatch(pod, plainInjection());
  ASSERT_EQ(patch.size(), 2u) << patch.dump(2);
  EXPECT_EQ(patch[0]["op"], "replace");
  EXPECT_EQ(patch[0]["path"], "/spec/containers/0/volumeMounts/2");
  EXPECT_EQ(patch[1]["op"], "replace");
  EXPECT_EQ(patch[1]["path"], "/spec/volumes/2");
  json result = pod.patch(patch);
  EXPECT_EQ(result["spec"]["containers"][0]["volumeMounts"][2]["readOnly"], true);
  EXPECT_EQ(result["spec"]["volumes"][2]["configMap"]["name"], "agentproxy-ca-bundle");
  EXPECT_EQ(podPatch(result, plainInjection()), json::array());
}

TEST(PodPatch, AnotherPolicyReplacesTheAnnotations) {
  json pod = patched(agentPod(), plainInjection());
  Injection other = injectionFor(proxyPolicy("other"), "localhost", "", "agentproxy-ca-bundle");
  json patch = podPatch(pod, other);
  json policyOp = {{"op", "replace"},
                   {"path", "/metadata/annotations/agentproxy.io~1policy"},
                   {"value", "other"}};
  EXPECT_THAT(patch, ::testing::Contains(policyOp));
  EXPECT_EQ(pod.patch(patch)["metadata"]["annotations"]["agentproxy.io/injection-hash"],
            injectionHash(other));
}

TEST(InjectionHash, Sha256HexThatChangesWithWhatIsInjected) {
  Injection injection = plainInjection();
  std::string hash = injectionHash(injection);
  EXPECT_EQ(hash.size(), 64u);
  EXPECT_EQ(hash.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(hash, injectionHash(plainInjection()));
  Injection changed = injection;
  changed.noProxy += ",.corp.example";
  EXPECT_NE(injectionHash(changed), hash);
  changed = injection;
  changed.caBundleConfigMapName = "other";
  EXPECT_NE(injectionHash(changed), hash);
}

TEST(InjectionFor, DefaultsAndChecks) {
  Injection injection = plainInjection();
  EXPECT_EQ(injection.policyName, "corp-proxy");
  EXPECT_EQ(injection.httpProxy, kProxy);
  EXPECT_FALSE(injection.overrideExisting);
  EXPECT_TRUE(injectionFor(proxyPolicy("p", {{"injection", {{"overrideExisting", true}}}}),
                           kNoProxy, "", "")
                  .overrideExisting);
  EXPECT_EQ(injectionFor(proxyPolicy("p"), kNoProxy, "ignored-without-credentials", "")
                .credentialsSecretName,
            "");

  policy::ProxyPolicy withCredentials = proxyPolicy(
      "corp-proxy",
      {{"proxy",
        {{"credentialsSecretRef", {{"namespace", "agentproxy-system"}, {"name", "proxy-auth"}}}}}});
  try {
    injectionFor(withCredentials, kNoProxy, "", "");
    ADD_FAILURE() << "expected InjectionError";
  } catch (const InjectionError& e) {
    EXPECT_THAT(e.what(), HasSubstr("ProxyPolicy corp-proxy has credentials but no Secret copy"));
  }
}

TEST(PodPatch, PodsItCannotPatchGiveClearErrors) {
  auto error = [](const json& pod) -> std::string {
    try {
      podPatch(pod, plainInjection());
    } catch (const InjectionError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(error(json::array()), "the pod is not a JSON object");
  EXPECT_EQ(error(json::object()), "the pod has no spec");
  EXPECT_EQ(error({{"spec", json::object()}}), "the pod has no spec.containers");
  json pod = agentPod();
  pod["spec"]["containers"][0]["env"] = {{"LOG_LEVEL", "info"}};
  EXPECT_EQ(error(pod), "/spec/containers/0/env must be an array, not object");
  pod = agentPod();
  pod["spec"]["containers"][1] = "sidecar";
  EXPECT_EQ(error(pod), "/spec/containers/1 is not an object");
  pod = agentPod();
  pod["metadata"]["annotations"] = json::array();
  EXPECT_EQ(error(pod), "/metadata/annotations must be an object, not array");
}


// --- per runtime (DESIGN.md "Injection", docs/runtimes.md) ---------------------------------

TEST(PodPatch, JavaToolOptionsAreAppendedToTheContainersOwnOnce) {
  json pod = agentPod();
  pod["spec"]["containers"][0]["env"].push_back(
      {{"name", "JAVA_TOOL_OPTIONS"}, {"value", "-Xmx512m -Dapp.mode=edge"}});
  json result = patched(pod, plainInjection());
  const json& agent = result["spec"]["containers"][0];
  auto value = envEntry(agent, "JAVA_TOOL_OPTIONS")["value"].get<std::string>();
  EXPECT_EQ(value, "-Xmx512m -Dapp.mode=edge " + javaToolOptions(plainInjection()));
  EXPECT_THAT(value, HasSubstr("-Dhttps.proxyHost=proxy.corp.example -Dhttps.proxyPort=3128"));
  EXPECT_THAT(value, HasSubstr("-Dhttp.nonProxyHosts=localhost|127.0.0.1|169.254.169.254|*.svc|"
                               "*.cluster.local"));
  EXPECT_THAT(value, HasSubstr("-Djavax.net.ssl.trustStore=/etc/agentproxy/ca/ca-bundle.p12 "
                               "-Djavax.net.ssl.trustStoreType=PKCS12"));
  int count = 0;
  for (const auto& e : agent["env"]) count += e["name"] == "JAVA_TOOL_OPTIONS";
  EXPECT_EQ(count, 1);
  EXPECT_EQ(podPatch(result, plainInjection()), json::array()) << "appended once";
}

TEST(PodPatch, JavaToolOptionsFromValueFromAreLeftAlone) {
  json pod = agentPod();
  json own = {{"name", "JAVA_TOOL_OPTIONS"},
              {"valueFrom", {{"configMapKeyRef", {{"name", "jvm"}, {"key", "opts"}}}}}};
  pod["spec"]["containers"][0]["env"].push_back(own);
  json result = patched(pod, plainInjection());
  EXPECT_EQ(envEntry(result["spec"]["containers"][0], "JAVA_TOOL_OPTIONS"), own);
}

TEST(PodPatch, OnlyTheListedRuntimesSettingsAreInjected) {
  Injection go = plainInjection();
  go.runtimes = {"go"};
  json pod = patched(agentPod(), go);
  const json& agent = pod["spec"]["containers"][0];
  auto names = envNames(agent);
  for (const char* absent : {"GRPC_PROXY", "grpc_proxy", "no_grpc_proxy", "NODE_USE_ENV_PROXY",
                             "JAVA_TOOL_OPTIONS"}) {
    EXPECT_THAT(names, Not(::testing::Contains(absent))) << absent;
  }
  EXPECT_EQ(pod["spec"]["volumes"][2]["configMap"]["items"].size(), 1u) << "no truststore";
  EXPECT_NE(injectionHash(go), injectionHash(plainInjection()));

  Injection node = plainInjection();
  node.runtimes = {"node"};
  json nodePod = patched(agentPod(), node);
  EXPECT_EQ(envEntry(nodePod["spec"]["containers"][0], "NODE_USE_ENV_PROXY")["value"], "1");
  EXPECT_EQ(envEntry(nodePod["spec"]["containers"][0], "no_grpc_proxy")["value"], kNoProxy);
  EXPECT_EQ(envEntry(nodePod["spec"]["containers"][0], "NODE_EXTRA_CA_CERTS")["value"],
            "/etc/agentproxy/ca/ca-bundle.crt");
}

TEST(PodPatch, ProxyUrlsCarryTheirPortAndGrpcGetsTheHttpProxy) {
  auto policy = proxyPolicy("corp-proxy", {{"proxy", {{"httpsProxy", "https://tls-proxy.example"},
                                                      {"httpProxy", "http://proxy.example"}}}});
  Injection injection = injectionFor(policy, kNoProxy, "", "agentproxy-ca-bundle");
  json pod = patched(agentPod(), injection);
  const json& agent = pod["spec"]["containers"][0];
  EXPECT_EQ(envEntry(agent, "HTTPS_PROXY")["value"], "https://tls-proxy.example:443");
  EXPECT_EQ(envEntry(agent, "HTTP_PROXY")["value"], "http://proxy.example:80");
  EXPECT_EQ(envEntry(agent, "grpc_proxy")["value"], "http://proxy.example:80");
  EXPECT_THAT(envEntry(agent, "JAVA_TOOL_OPTIONS")["value"].get<std::string>(),
              HasSubstr("-Dhttps.proxyHost=tls-proxy.example -Dhttps.proxyPort=443 "
                        "-Dhttp.proxyHost=proxy.example -Dhttp.proxyPort=80"));
}

TEST(PodPatch, CredentialsReachGrpcProxyThroughReferencesOnly) {
  policy::ProxyPolicy withCredentials = proxyPolicy(
      "corp-proxy",
      {{"proxy",
        {{"credentialsSecretRef", {{"namespace", "agentproxy-system"}, {"name", "proxy-auth"}}}}}});
  Injection injection =
      injectionFor(withCredentials, kNoProxy, "agentproxy-proxy-auth", "agentproxy-ca-bundle");
  json pod = patched(agentPod(), injection);
  const json& agent = pod["spec"]["containers"][0];
  EXPECT_EQ(envEntry(agent, "grpc_proxy")["value"],
            "http://$(AGENTPROXY_PROXY_USER):$(AGENTPROXY_PROXY_PASSWORD)@proxy.corp.example:3128");
  EXPECT_THAT(envEntry(agent, "JAVA_TOOL_OPTIONS")["value"].get<std::string>(),
              Not(HasSubstr("AGENTPROXY_PROXY")));
}

}  // namespace
}  // namespace agentproxy::injection
