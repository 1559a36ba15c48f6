// admitPod(): an AdmissionReview v1 body in, the HTTP answer out, as the API server sees it.
#include "webhook/admission.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "encoding/encoding.h"
#include "injection/pod_injection.h"
#include "webhook_fixtures.h"

namespace agentproxy::webhook {
namespace {

using nlohmann::json;
using testing::agentPod;
using ::testing::HasSubstr;
using testing::proxyPolicy;

constexpr const char* kUid = "705ab4f5-6393-11e8-b7cc-42010a800002";
constexpr const char* kCaHash =
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

json podReview(const json& pod, const std::string& ns = "workloads",
               const std::string& operation = "CREATE") {
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", kUid},
            {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
            {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
            {"requestKind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
            {"requestResource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
            {"namespace", ns},
            {"operation", operation},
            {"userInfo",
             {{"username", "system:serviceaccount:kube-system:replicaset-controller"},
              {"uid", "c3b6e1a2-0d5c-4a57-9b1e-2f0a7f1e9c11"},
              {"groups", {"system:serviceaccounts", "system:authenticated"}}}},
            {"object", pod},
            {"oldObject", operation == "CREATE" ? json(nullptr) : pod},
            {"dryRun", false},
            {"options", {{"kind", "CreateOptions"}, {"apiVersion", "meta.k8s.io/v1"}}}}}};
}

// corp-proxy: credentials from a Secret, the system CAs (the default), and its own NO_PROXY.
policy::ProxyPolicy corpPolicy(const std::string& name = "corp-proxy") {
  return proxyPolicy(
      name,
      {{"proxy",
        {{"credentialsSecretRef", {{"namespace", "agentproxy-system"}, {"name", "proxy-auth"}}},
         {"noProxy", {"internal.corp.example"}}}}});
}

AdmissionPolicies admissionPolicies(std::vector<policy::ProxyPolicy> policies) {
  AdmissionPolicies a;
  a.policies = std::make_shared<std::vector<policy::ProxyPolicy>>(std::move(policies));
  a.caBundleHashes = {{"corp-proxy", kCaHash}};
  a.cluster = {"10.96.0.1", {"10.96.0.0/12"}, {"10.244.0.0/16"}};
  a.operatorNamespace = "agentproxy-system";
  prepareAdmission(a);
  return a;
}

// The namespaces as the webhook's cache sees them; `asked` records each lookup.
struct Namespaces {
  std::map<std::string, std::map<std::string, std::string>> labels = {
      {"workloads",
       {{"agentproxy.io/inject", "enabled"}, {"kubernetes.io/metadata.name", "workloads"}}},
      {"kube-system", {{"agentproxy.io/inject", "enabled"}}},
      {"unlabelled", {{"kubernetes.io/metadata.name", "unlabelled"}}}};
  std::vector<std::string> asked;
  NamespaceLookup lookup() {
    return [this](const std::string& name) -> std::optional<PodNamespace> {
      asked.push_back(name);
      auto it = labels.find(name);
      if (it == labels.end()) return std::nullopt;
      return PodNamespace{name, it->second};
    };
  }
};

struct Answer {
  AdmissionAnswer raw;
  json body;
  const json& response() const { return body["response"]; }
  bool hasPatch() const { return response().contains("patch"); }
  json patch() const {
    EXPECT_EQ(response().value("patchType", ""), "JSONPatch");
    return json::parse(encoding::base64Decode(response().value("patch", "")));
  }
};

Answer admit(const std::string& body, const AdmissionPolicies& policies,
             const NamespaceLookup& lookup) {
  Answer a{admitPod(body, policies, lookup), {}};
  a.body = json::parse(a.raw.body, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(a.body.is_discarded()) << a.raw.body;
  return a;
}

// The entry named `name` in the container's env, and its position (env.size() when absent).
const json* envVar(const json& container, const std::string& name) {
  auto env = container.find("env");
  if (env == container.end() || !env->is_array()) return nullptr;
  for (const auto& e : *env) {
    if (e.value("name", "") == name) return &e;
  }
  return nullptr;
}

size_t envIndex(const json& container, const std::string& name) {
  auto env = container.find("env");
  if (env == container.end() || !env->is_array()) return 0;
  for (size_t i = 0; i < env->size(); ++i) {
    if ((*env)[i].value("name", "") == name) return i;
  }
  return env->size();
}

class AdmitPodTest : public ::testing::Test {
 protected:
  Namespaces namespaces_;
  AdmissionPolicies policies_ = admissionPolicies({corpPolicy()});

  Answer admitCreate(const json& pod, const std::string& ns = "workloads") {
    return admit(podReview(pod, ns).dump(), policies_, namespaces_.lookup());
  }
  // The hash the controller counts pods against (reconciler: injectionForPolicy with the
  // policy's status.caBundleHash).
  std::string controllerHash(const std::string& caHash = kCaHash) {
    return injectionHash(injectionForPolicy(corpPolicy(), policies_.cluster, caHash));
  }
};

TEST_F(AdmitPodTest, SelectedPodGetsProxyEnvCaBundleAndHash) {
  auto answer = admitCreate(agentPod());
  EXPECT_EQ(answer.raw.httpStatus, 200);
  EXPECT_EQ(answer.raw.outcome, "injected");
  EXPECT_THAT(answer.raw.detail, HasSubstr("workloads/agent-7d9f-*"));
  EXPECT_THAT(answer.raw.detail, HasSubstr("corp-proxy"));
  EXPECT_EQ(answer.body["apiVersion"], "admission.k8s.io/v1");
  EXPECT_EQ(answer.body["kind"], "AdmissionReview");
  EXPECT_EQ(answer.response()["uid"], kUid);
  EXPECT_EQ(answer.response()["allowed"], true);
  EXPECT_FALSE(answer.response().contains("warnings"));
  ASSERT_TRUE(answer.hasPatch());
  EXPECT_EQ(namespaces_.asked, std::vector<std::string>{"workloads"});

  json patched = agentPod().patch(answer.patch());
  const std::string withRefs =
      "http://$(AGENTPROXY_PROXY_USER):$(AGENTPROXY_PROXY_PASSWORD)@proxy.corp.example:3128";
  std::vector<json> containers;
  for (const auto& c : patched["spec"]["initContainers"]) containers.push_back(c);
  for (const auto& c : patched["spec"]["containers"]) containers.push_back(c);
  ASSERT_EQ(containers.size(), 3u);
  for (const auto& c : containers) {
    SCOPED_TRACE(c.value("name", ""));
    for (const char* name :
         {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "GRPC_PROXY", "grpc_proxy"}) {
      const json* e = envVar(c, name);
      ASSERT_NE(e, nullptr) << name;
      EXPECT_EQ((*e)["value"], withRefs) << name;
    }
    for (const char* name : {"NO_PROXY", "no_proxy"}) {
      const json* e = envVar(c, name);
      ASSERT_NE(e, nullptr) << name;
      auto value = (*e)["value"].get<std::string>();
      for (const char* entry : {"localhost", "10.96.0.1", ".svc", ".cluster.local", "10.96.0.0/12",
                                "10.244.0.0/16", "internal.corp.example"}) {
        EXPECT_THAT(value, HasSubstr(entry));
      }
    }
    // Credentials only as references to the copy, and before the URLs that expand them.
    const json* user = envVar(c, "AGENTPROXY_PROXY_USER");
    const json* password = envVar(c, "AGENTPROXY_PROXY_PASSWORD");
    ASSERT_NE(user, nullptr);
    ASSERT_NE(password, nullptr);
    EXPECT_EQ((*user)["valueFrom"]["secretKeyRef"],
              json({{"name", "agentproxy-proxy-corp-proxy"}, {"key", "username"}}));
    EXPECT_EQ((*password)["valueFrom"]["secretKeyRef"],
              json({{"name", "agentproxy-proxy-corp-proxy"}, {"key", "password"}}));
    EXPECT_FALSE(user->contains("value"));
    EXPECT_FALSE(password->contains("value"));
    EXPECT_LT(envIndex(c, "AGENTPROXY_PROXY_PASSWORD"), envIndex(c, "HTTPS_PROXY"));
    for (const char* name : {"SSL_CERT_FILE", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
                             "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}) {
      const json* e = envVar(c, name);
      ASSERT_NE(e, nullptr) << name;
      EXPECT_EQ((*e)["value"], "/etc/agentproxy/ca/ca-bundle.crt") << name;
    }
    EXPECT_THAT(c["volumeMounts"].dump(), HasSubstr(json({{"mountPath", "/etc/agentproxy/ca"},
                                                          {"name", "agentproxy-ca"},
                                                          {"readOnly", true}})
                                                        .dump()));
  }
  // The user's own env and mounts stay, after ours.
  const json& agent = patched["spec"]["containers"][0];
  for (const char* name : {"LOG_LEVEL", "POD_NAME", "AGENT_TOKEN"}) {
    ASSERT_NE(envVar(agent, name), nullptr) << name;
    EXPECT_GT(envIndex(agent, name), envIndex(agent, "grpc_proxy")) << name;
  }
  EXPECT_EQ(*envVar(agent, "AGENT_TOKEN"), agentPod()["spec"]["containers"][0]["env"][2]);
  EXPECT_EQ(agent["volumeMounts"].size(), 3u);

  const json& volumes = patched["spec"]["volumes"];
  ASSERT_EQ(volumes.size(), 3u);
  EXPECT_EQ(volumes[0], agentPod()["spec"]["volumes"][0]);
  EXPECT_EQ(volumes[2],
            json({{"name", "agentproxy-ca"},
                  {"configMap",
                   {{"name", "agentproxy-ca-corp-proxy"},
                    {"items",
                     {{{"key", "ca-bundle.crt"}, {"path", "ca-bundle.crt"}},
                      {{"key", "ca-bundle.p12"}, {"path", "ca-bundle.p12"}}}}}}}));

  const json& annotations = patched["metadata"]["annotations"];
  EXPECT_EQ(annotations["agentproxy.io/policy"], "corp-proxy");
  // The controller counts the pod as current: same hash, built from status.caBundleHash.
  EXPECT_EQ(annotations["agentproxy.io/injection-hash"], controllerHash());
  EXPECT_NE(annotations["agentproxy.io/injection-hash"], controllerHash(""));
  EXPECT_EQ(annotations["kubectl.kubernetes.io/default-container"], "agent");
  EXPECT_FALSE(annotations.contains(std::string(kOutvotedAnnotation)));
}

TEST_F(AdmitPodTest, SecondAdmissionOfThePatchedPodChangesNothing) {
  auto first = admitCreate(agentPod());
  ASSERT_TRUE(first.hasPatch());
  json patched = agentPod().patch(first.patch());
  auto second = admitCreate(patched);
  EXPECT_EQ(second.raw.httpStatus, 200);
  EXPECT_EQ(second.response()["allowed"], true);
  EXPECT_FALSE(second.hasPatch());
  EXPECT_FALSE(second.response().contains("patchType"));
  EXPECT_EQ(second.raw.outcome, "unchanged");
}

TEST_F(AdmitPodTest, PodWithoutNamespaceUsesTheRequestsNamespace) {
  json pod = agentPod();
  pod["metadata"].erase("namespace");
  auto answer = admitCreate(pod);
  EXPECT_EQ(answer.raw.outcome, "injected");
  EXPECT_EQ(namespaces_.asked, std::vector<std::string>{"workloads"});
}

TEST_F(AdmitPodTest, OptedOutUnselectedAndSystemPodsAreAllowedUnchanged) {
  json optedOut = agentPod();
  optedOut["metadata"]["annotations"]["agentproxy.io/inject"] = "false";
  json elsewhere = agentPod();
  elsewhere["metadata"]["namespace"] = "unlabelled";
  json missing = agentPod();
  missing["metadata"]["namespace"] = "not-created-yet";
  json system = agentPod();
  system["metadata"]["namespace"] = "kube-system";
  json unlabelledPod = agentPod();
  unlabelledPod["metadata"]["labels"] = {{"app", "web"}};

  struct Case {
    const char* what;
    json pod;
    std::string ns;
    const char* detail;
  } cases[] = {
      {"opted out", optedOut, "workloads", "agentproxy.io/inject"},
      {"namespace labels do not match", elsewhere, "unlabelled", "no enabled ProxyPolicy"},
      {"namespace not found", missing, "not-created-yet", "no enabled ProxyPolicy"},
      {"kube-system", system, "kube-system", "system namespace"},
      {"pod labels do not match", unlabelledPod, "workloads", "no enabled ProxyPolicy"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto answer = admitCreate(c.pod, c.ns);
    EXPECT_EQ(answer.raw.httpStatus, 200);
    EXPECT_EQ(answer.response()["uid"], kUid);
    EXPECT_EQ(answer.response()["allowed"], true);
    EXPECT_FALSE(answer.hasPatch());
    EXPECT_FALSE(answer.response().contains("status"));
    EXPECT_EQ(answer.raw.outcome, "skipped");
    EXPECT_THAT(answer.raw.detail, HasSubstr(c.detail));
  }
}

TEST_F(AdmitPodTest, TwoPoliciesWarnAndRecordTheLoser) {
  policies_ = admissionPolicies({proxyPolicy("zeta-proxy"), corpPolicy()});
  auto answer = admitCreate(agentPod());
  EXPECT_EQ(answer.raw.outcome, "injected");
  ASSERT_TRUE(answer.response().contains("warnings"));
  ASSERT_EQ(answer.response()["warnings"].size(), 1u);
  auto warning = answer.response()["warnings"][0].get<std::string>();
  EXPECT_THAT(warning, HasSubstr("corp-proxy"));
  EXPECT_THAT(warning, HasSubstr("zeta-proxy"));
  EXPECT_THAT(warning, HasSubstr("alphabetically first"));

  json patched = agentPod().patch(answer.patch());
  const json& annotations = patched["metadata"]["annotations"];
  EXPECT_EQ(annotations["agentproxy.io/policy"], "corp-proxy");
  EXPECT_EQ(annotations["agentproxy.io/outvoted-policies"], "zeta-proxy");
  // Losers are not part of what was injected.
  EXPECT_EQ(annotations["agentproxy.io/injection-hash"], controllerHash());

  auto again = admitCreate(patched);
  EXPECT_EQ(again.raw.outcome, "unchanged");
  EXPECT_FALSE(again.hasPatch());
}

TEST_F(AdmitPodTest, UnreadableBodiesAreHttp400WithAnError) {
  std::string valid = podReview(agentPod()).dump();
  json noUid = podReview(agentPod());
  noUid["request"].erase("uid");
  for (const std::string& body :
       {valid.substr(0, valid.size() / 2), std::string(), noUid.dump(),
        std::string(R"({"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"})")}) {
    SCOPED_TRACE(body.substr(0, 60));
    auto answer = admit(body, policies_, namespaces_.lookup());
    EXPECT_EQ(answer.raw.httpStatus, 400);
    EXPECT_EQ(answer.raw.outcome, "invalid");
    ASSERT_TRUE(answer.body.is_object());
    ASSERT_TRUE(answer.body.contains("error"));
    EXPECT_FALSE(answer.body["error"].get<std::string>().empty());
    EXPECT_FALSE(answer.body.contains("response"));
  }
  EXPECT_TRUE(namespaces_.asked.empty());
  EXPECT_EQ(admit(noUid.dump(), policies_, namespaces_.lookup()).body["error"],
            "the AdmissionReview request has no uid");
}

TEST_F(AdmitPodTest, NonPodObjectIsRefusedWithAMessage) {
  json review = podReview(agentPod());
  review["request"]["kind"] = {{"group", "apps"}, {"version", "v1"}, {"kind", "Deployment"}};
  review["request"]["object"] = {{"apiVersion", "apps/v1"},
                                 {"kind", "Deployment"},
                                 {"metadata", {{"name", "agent"}, {"namespace", "workloads"}}},
                                 {"spec", {{"replicas", 2}}}};
  auto answer = admit(review.dump(), policies_, namespaces_.lookup());
  EXPECT_EQ(answer.raw.httpStatus, 200);
  EXPECT_EQ(answer.raw.outcome, "invalid");
  EXPECT_EQ(answer.response()["uid"], kUid);
  EXPECT_EQ(answer.response()["allowed"], false);
  EXPECT_EQ(answer.response()["status"]["code"], 400);
  EXPECT_THAT(answer.response()["status"]["message"].get<std::string>(),
              HasSubstr("a Deployment apps/v1, not a v1 Pod"));
  EXPECT_FALSE(answer.hasPatch());
}

TEST_F(AdmitPodTest, MalformedPodIsRefusedNamingTheProblem) {
  json pod = agentPod();
  pod["spec"]["containers"] = {{"name", "agent"}};  // an object, not an array
  auto answer = admitCreate(pod);
  EXPECT_EQ(answer.raw.httpStatus, 200);
  EXPECT_EQ(answer.raw.outcome, "rejected");
  EXPECT_EQ(answer.response()["allowed"], false);
  EXPECT_EQ(answer.response()["status"]["code"], 400);
  auto message = answer.response()["status"]["message"].get<std::string>();
  EXPECT_THAT(message, HasSubstr("corp-proxy"));
  EXPECT_THAT(message, HasSubstr("containers"));
}

TEST_F(AdmitPodTest, NamespaceLookupFailureIsA500NamingTheNamespace) {
  NamespaceLookup failing = [](const std::string&) -> std::optional<PodNamespace> {
    throw std::runtime_error(
        "Get \"https://10.96.0.1:443/api/v1/namespaces/workloads\": "
        "connection refused");
  };
  auto answer = admit(podReview(agentPod()).dump(), policies_, failing);
  EXPECT_EQ(answer.raw.httpStatus, 200);
  EXPECT_EQ(answer.raw.outcome, "rejected");
  EXPECT_EQ(answer.response()["uid"], kUid);
  EXPECT_EQ(answer.response()["allowed"], false);
  EXPECT_EQ(answer.response()["status"]["code"], 500);
  auto message = answer.response()["status"]["message"].get<std::string>();
  EXPECT_THAT(message, HasSubstr("namespace workloads"));
  EXPECT_THAT(message, HasSubstr("connection refused"));
  EXPECT_FALSE(answer.hasPatch());
}

TEST_F(AdmitPodTest, UpdateIsAllowedUnchanged) {
  auto answer =
      admit(podReview(agentPod(), "workloads", "UPDATE").dump(), policies_, namespaces_.lookup());
  EXPECT_EQ(answer.raw.httpStatus, 200);
  EXPECT_EQ(answer.response()["uid"], kUid);
  EXPECT_EQ(answer.response()["allowed"], true);
  EXPECT_FALSE(answer.hasPatch());
  EXPECT_EQ(answer.raw.outcome, "skipped");
  EXPECT_THAT(answer.raw.detail, HasSubstr("UPDATE"));
  EXPECT_TRUE(namespaces_.asked.empty());
}

TEST_F(AdmitPodTest, WithoutAComputedCaBundleHashThePodWillCountAsStale) {
  policies_.caBundleHashes.clear();  // the operator has not written status.caBundleHash yet
  prepareAdmission(policies_);
  auto answer = admitCreate(agentPod());
  json patched = agentPod().patch(answer.patch());
  EXPECT_EQ(patched["metadata"]["annotations"]["agentproxy.io/injection-hash"], controllerHash(""));
  EXPECT_NE(patched["metadata"]["annotations"]["agentproxy.io/injection-hash"], controllerHash());
}

// The snapshot prepares each policy once; a new snapshot keeps what did not change.
TEST_F(AdmitPodTest, PreparedInjectionsAreReusedUntilTheirPolicyChanges) {
  auto previous = admissionPolicies({proxyPolicy("zeta-proxy"), corpPolicy()});
  ASSERT_EQ(previous.prepared.size(), 2u);
  EXPECT_EQ(previous.prepared.at("corp-proxy")->hash, controllerHash());

  auto next = admissionPolicies({proxyPolicy("zeta-proxy"), corpPolicy()});
  next.caBundleHashes["corp-proxy"] = "sha256:rotated";
  prepareAdmission(next, &previous);
  EXPECT_EQ(next.prepared.at("zeta-proxy"), previous.prepared.at("zeta-proxy"));
  EXPECT_NE(next.prepared.at("corp-proxy"), previous.prepared.at("corp-proxy"));
  EXPECT_EQ(next.prepared.at("corp-proxy")->hash, controllerHash("sha256:rotated"));

  // A spec change comes with a new generation: prepared again.
  policy::ProxyPolicy changed = corpPolicy();
  changed.generation = 2;
  changed.spec.noProxy.push_back(".added.example");
  auto third = admissionPolicies({proxyPolicy("zeta-proxy"), changed});
  third.caBundleHashes = next.caBundleHashes;
  prepareAdmission(third, &next);
  EXPECT_EQ(third.prepared.at("zeta-proxy"), previous.prepared.at("zeta-proxy"));
  EXPECT_NE(third.prepared.at("corp-proxy"), next.prepared.at("corp-proxy"));
  EXPECT_THAT(third.prepared.at("corp-proxy")->injection.noProxy, HasSubstr(".added.example"));

  // What admitPod() stamps is the current preparation's hash.
  policies_ = next;
  json patched = agentPod().patch(admitCreate(agentPod()).patch());
  EXPECT_EQ(patched["metadata"]["annotations"]["agentproxy.io/injection-hash"],
            controllerHash("sha256:rotated"));
}

}  // namespace
}  // namespace agentproxy::webhook
