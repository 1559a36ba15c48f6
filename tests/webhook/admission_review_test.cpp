#include "webhook/admission_review.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "encoding/encoding.h"
#include "injection/pod_injection.h"
#include "webhook/policy_selection.h"
#include "webhook_fixtures.h"

namespace agentproxy::webhook {
namespace {

using nlohmann::json;
using testing::agentPod;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::proxyPolicy;
using ::testing::StartsWith;

json podReview(const json& pod) {
  return {{"apiVersion", "admission.k8s.io/v1"},
          {"kind", "AdmissionReview"},
          {"request",
           {{"uid", "705ab4f5-6393-11e8-b7cc-42010a800002"},
            {"kind", {{"group", ""}, {"version", "v1"}, {"kind", "Pod"}}},
            {"resource", {{"group", ""}, {"version", "v1"}, {"resource", "pods"}}},
            {"namespace", "workloads"},
            {"operation", "CREATE"},
            {"userInfo", {{"username", "system:serviceaccount:kube-system:replicaset-controller"}}},
            {"object", pod},
            {"oldObject", nullptr},
            {"dryRun", false}}}};
}

// The error parseAdmissionReview() throws, as "uid|message".
std::string parseError(std::string_view body) {
  try {
    parseAdmissionReview(body);
  } catch (const AdmissionError& e) {
    return e.uid() + "|" + e.what();
  }
  return "no error";
}

TEST(ParseAdmissionReview, ReadsAPodCreate) {
  AdmissionRequest request = parseAdmissionReview(podReview(agentPod()).dump());
  EXPECT_EQ(request.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
  EXPECT_EQ(request.operation, "CREATE");
  EXPECT_EQ(request.namespace_, "workloads");
  EXPECT_FALSE(request.dryRun);
  // What the mutation reads, whole; of volumes and mounts only the names; nothing else.
  json pod = agentPod();
  EXPECT_EQ(request.pod["metadata"], pod["metadata"]);
  json names = json::parse(R"([{"name": "config"}, {"name": "kube-api-access-x7k2p"}])");
  EXPECT_EQ(request.pod["spec"]["volumes"], names);
  EXPECT_EQ(request.pod["spec"]["containers"][0],
            json({{"name", "agent"},
                  {"env", pod["spec"]["containers"][0]["env"]},
                  {"volumeMounts", names}}));
  EXPECT_EQ(request.pod["spec"]["containers"][1], json({{"name", "log-shipper"}}));
  EXPECT_EQ(request.pod["spec"]["initContainers"][0], json({{"name", "wait-config"}}));
}

TEST(ParseAdmissionReview, KeepsOnlyWhatTheMutationReads) {
  json pod = agentPod();
  pod["metadata"]["managedFields"] = json::array({{{"manager", "kubectl"}, {"fieldsV1", {}}}});
  pod["spec"]["hostNetwork"] = true;
  pod["spec"]["tolerations"] = json::array({{{"operator", "Exists"}}});
  json review = podReview(pod);
  review["request"]["object"]["status"] = {{"phase", "Pending"}};
  AdmissionRequest request = parseAdmissionReview(review.dump());
  EXPECT_FALSE(request.pod["metadata"].contains("managedFields"));
  EXPECT_FALSE(request.pod["spec"].contains("tolerations"));
  EXPECT_FALSE(request.pod.contains("status"));
  EXPECT_EQ(request.pod["spec"]["hostNetwork"], true);
  EXPECT_EQ(request.pod["apiVersion"], "v1");
  EXPECT_EQ(request.pod["kind"], "Pod");
  // The operator's own volume and mount are kept whole: the mutation compares them.
  json volume = {{"name", "agentproxy-ca"}, {"configMap", {{"name", "agentproxy-ca-corp"}}}};
  json mount = {{"name", "agentproxy-ca"}, {"mountPath", "/etc/agentproxy/ca"}};
  pod["spec"]["volumes"].push_back(volume);
  pod["spec"]["containers"][0]["volumeMounts"].push_back(mount);
  request = parseAdmissionReview(podReview(pod).dump());
  EXPECT_EQ(request.pod["spec"]["volumes"].back(), volume);
  EXPECT_EQ(request.pod["spec"]["containers"][0]["volumeMounts"].back(), mount);
  // Types are kept as they came, so the mutation can name what is wrong.
  pod["spec"]["containers"] = {{"agent", {{"name", "agent"}}}};
  pod["spec"]["initContainers"] = json::array({"wait-config"});
  request = parseAdmissionReview(podReview(pod).dump());
  EXPECT_TRUE(request.pod["spec"]["containers"].is_object());
  EXPECT_EQ(request.pod["spec"]["initContainers"], json::array({"wait-config"}));
}

TEST(ParseAdmissionReview, MalformedInputGivesClearErrors) {
  std::string valid = podReview(agentPod()).dump();
  // The message says what is wrong, never quotes the text, which may be a secret.
  for (std::string body :
       {valid.substr(0, valid.size() / 2), std::string(),
        std::string(R"({"request": {"object": {"env": "s3cret-value)"),
        std::string(R"({"request": {"uid": "x", "object": s3cret}})"),
        std::string("{\"kind\": \"AdmissionReview\", \"x\": \"\xff\"}"),
        // nested deeper than any pod: refused, not a stack overflow
        "{\"request\": " + std::string(100000, '[') + std::string(100000, ']') + "}"}) {
    std::string error = parseError(body);
    EXPECT_THAT(error, StartsWith("|the request body is not valid JSON: ")) << body;
    EXPECT_THAT(error, Not(HasSubstr("s3cret"))) << body;
  }
  EXPECT_EQ(parseError("[1, 2]"), "|the request body is not an AdmissionReview");
  EXPECT_EQ(parseError(R"({"kind": "Pod", "apiVersion": "v1"})"),
            "|the request body is not an AdmissionReview");

  json review = podReview(agentPod());
  review["apiVersion"] = "admission.k8s.io/v1beta1";
  EXPECT_THAT(parseError(review.dump()),
              HasSubstr("|AdmissionReview apiVersion is 'admission.k8s.io/v1beta1', expected "
                        "admission.k8s.io/v1"));

  review = podReview(agentPod());
  review.erase("request");
  EXPECT_EQ(parseError(review.dump()), "|the AdmissionReview has no request");

  review = podReview(agentPod());
  review["request"].erase("uid");
  EXPECT_EQ(parseError(review.dump()), "|the AdmissionReview request has no uid");
  review["request"]["uid"] = 42;
  EXPECT_EQ(parseError(review.dump()), "|the AdmissionReview request has no uid");

  review = podReview(agentPod());
  review["request"]["object"] = nullptr;
  EXPECT_EQ(parseError(review.dump()),
            "705ab4f5-6393-11e8-b7cc-42010a800002|the AdmissionReview request has no object");
}

TEST(ParseAdmissionReview, AnObjectThatIsNotAPodIsNamed) {
  json deployment = {{"apiVersion", "apps/v1"},
                     {"kind", "Deployment"},
                     {"metadata", {{"name", "agent"}}},
                     {"spec", {{"replicas", 1}}}};
  EXPECT_EQ(parseError(podReview(deployment).dump()),
            "705ab4f5-6393-11e8-b7cc-42010a800002|the object is a Deployment apps/v1, not a v1 "
            "Pod: the webhook is registered for Pods only");
  json kindless = agentPod();
  kindless.erase("kind");
  EXPECT_THAT(parseError(podReview(kindless).dump()), HasSubstr("the object is of no kind v1"));
}

TEST(AdmissionResponse, AllowedWithABase64JsonPatch) {
  json patch =
      json::parse(R"([{"op": "add", "path": "/metadata/annotations/a~1b", "value": "c"}])");
  json review = json::parse(allowedResponse("uid-1", patch.dump(), {"also selected by mid"}));
  EXPECT_EQ(review["apiVersion"], "admission.k8s.io/v1");
  EXPECT_EQ(review["kind"], "AdmissionReview");
  const json& response = review["response"];
  EXPECT_EQ(response["uid"], "uid-1");
  EXPECT_EQ(response["allowed"], true);
  EXPECT_EQ(response["patchType"], "JSONPatch");
  EXPECT_EQ(json::parse(encoding::base64Decode(response["patch"].get<std::string>())), patch);
  EXPECT_EQ(response["warnings"], json({"also selected by mid"}));
}

TEST(AdmissionResponse, AnEmptyPatchIsAPlainAllow) {
  json review = json::parse(allowedResponse("uid-2", "[]"));
  EXPECT_EQ(review["response"], json({{"uid", "uid-2"}, {"allowed", true}}));
}

TEST(AdmissionResponse, ErrorsCarryCodeAndMessage) {
  json review =
      json::parse(errorResponse("uid-3", 400, "the object is a Deployment apps/v1, not a v1 Pod"));
  EXPECT_EQ(review["response"],
            json::parse(R"({"uid": "uid-3", "allowed": false, "status": {"code": 400,
                            "message": "the object is a Deployment apps/v1, not a v1 Pod"}})"));
}

// The whole path a webhook request takes, from the request body to the pod the API server
// stores: parse, select, mutate, respond; then the API server's side: decode, apply.
TEST(AdmissionRoundTrip, APodCreateComesBackInjected) {
  std::vector<policy::ProxyPolicy> policies = {proxyPolicy("corp-proxy"),
                                               proxyPolicy("backup-proxy")};
  PodNamespace ns{"workloads", {{"agentproxy.io/inject", "enabled"}}};
  AdmissionRequest request = parseAdmissionReview(podReview(agentPod()).dump());
  PolicySelection selection = selectPolicy(request.pod, ns, policies, "agentproxy-system");
  ASSERT_EQ(selection.outcome, SelectionOutcome::kInject);
  injection::Injection injection = injection::injectionFor(*selection.policy, "localhost,.svc", "", "agentproxy-ca");
  json review = json::parse(allowedResponse(request.uid, injection::podPatch(request.pod, injection).dump(),
                                            {describe(selection, ns)}));

  json stored = request.pod.patch(
      json::parse(encoding::base64Decode(review["response"]["patch"].get<std::string>())));
  EXPECT_EQ(stored["metadata"]["annotations"]["agentproxy.io/policy"], "backup-proxy");
  EXPECT_EQ(stored["spec"]["containers"][1]["env"][0],
            json({{"name", "HTTPS_PROXY"}, {"value", "http://proxy.corp.example:3128"}}));
  EXPECT_THAT(review["response"]["warnings"][0].get<std::string>(),
              HasSubstr("also selected by corp-proxy"));

  // The API server re-invokes the webhook with the stored pod: nothing more to do.
  AdmissionRequest again = parseAdmissionReview(podReview(stored).dump());
  EXPECT_EQ(
      json::parse(allowedResponse(again.uid, injection::podPatch(again.pod, injection).dump()))["response"],
      json({{"uid", again.uid}, {"allowed", true}}));
}

}  // namespace
}  // namespace agentproxy::webhook
