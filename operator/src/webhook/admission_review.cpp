#include "webhook/admission_review.h"

#include <simdjson.h>

#include <cstdint>
#include <nlohmann/json.hpp>

#include "encoding/encoding.h"

namespace agentproxy::webhook {
namespace {

using nlohmann::json;

constexpr std::string_view kApiVersion = "admission.k8s.io/v1";
// Volumes and mounts named so are the operator's (kCaVolumeName): the mutation compares them.
constexpr std::string_view kOperatorPrefix = "agentproxy-";

std::string stringAt(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// What of the AdmissionReview is built into a tree: the members parseAdmissionReview() and the
// mutation read (AdmissionRequest::pod says which). simdjson parses and validates the whole body
// (about 5 us for a 4 KB review; nlohmann's parser takes 90); the tree is built of the rest only.
enum class Keep {
  kNothing,
  kAll,
  kReview,
  kRequest,
  kPod,
  kMetadata,
  kSpec,
  kContainers,
  kContainer,
  kNamedList,  // volumes, volumeMounts: of each element its name, or all of the operator's own
  kNamed,
};

Keep keepMember(Keep parent, std::string_view key) {
  auto any = [key](std::initializer_list<std::string_view> keys) {
    for (auto k : keys) {
      if (k == key) return true;
    }
    return false;
  };
  switch (parent) {
    case Keep::kAll:
      return Keep::kAll;
    case Keep::kReview:
      if (key == "request") return Keep::kRequest;
      return any({"apiVersion", "kind"}) ? Keep::kAll : Keep::kNothing;
    case Keep::kRequest:
      if (key == "object") return Keep::kPod;
      return any({"uid", "operation", "namespace", "dryRun"}) ? Keep::kAll : Keep::kNothing;
    case Keep::kPod:
      if (key == "metadata") return Keep::kMetadata;
      if (key == "spec") return Keep::kSpec;
      return any({"apiVersion", "kind"}) ? Keep::kAll : Keep::kNothing;
    case Keep::kMetadata:
      return any({"name", "generateName", "namespace", "labels", "annotations"}) ? Keep::kAll
                                                                                 : Keep::kNothing;
    case Keep::kSpec:
      if (key == "containers" || key == "initContainers") return Keep::kContainers;
      if (key == "volumes") return Keep::kNamedList;
      return key == "hostNetwork" ? Keep::kAll : Keep::kNothing;
    case Keep::kContainer:
      if (key == "volumeMounts") return Keep::kNamedList;
      return any({"name", "env"}) ? Keep::kAll : Keep::kNothing;
    case Keep::kNamed:
      return key == "name" ? Keep::kAll : Keep::kNothing;
    default:
      return Keep::kNothing;
  }
}

Keep keepElement(Keep parent) {
  switch (parent) {
    case Keep::kAll:
      return Keep::kAll;
    case Keep::kContainers:
      return Keep::kContainer;
    case Keep::kNamedList:
      return Keep::kNamed;
    default:
      return Keep::kNothing;
  }
}

// The kept part of a parsed value as a tree: `keep` says which members and elements to build.
json build(simdjson::dom::element value, Keep keep) {
  using Type = simdjson::dom::element_type;
  switch (value.type()) {
    case Type::OBJECT: {
      if (keep == Keep::kNamed) {
        std::string_view name;
        if (value["name"].get(name) == simdjson::SUCCESS && name.starts_with(kOperatorPrefix)) {
          keep = Keep::kAll;
        }
      }
      json object = json::object();
      for (auto [key, member] : simdjson::dom::object(value)) {
        if (Keep child = keepMember(keep, key); child != Keep::kNothing) {
          object[std::string(key)] = build(member, child);
        }
      }
      return object;
    }
    case Type::ARRAY: {
      json array = json::array();
      Keep child = keepElement(keep);
      if (child == Keep::kNothing) return array;
      for (auto element : simdjson::dom::array(value)) array.push_back(build(element, child));
      return array;
    }
    case Type::STRING:
      return std::string(std::string_view(value));
    case Type::INT64:
      return int64_t(value);
    case Type::UINT64:
      return uint64_t(value);
    case Type::DOUBLE:
      return double(value);
    case Type::BOOL:
      return bool(value);
    case Type::NULL_VALUE:
      break;
  }
  return nullptr;
}

// The kept part of the AdmissionReview, or AdmissionError when the body is not JSON.
json parseKept(std::string_view body) {
  // A parser keeps its buffers (several times the largest document it read): one per thread for
  // ordinary reviews, a throwaway one for the rare large body.
  constexpr size_t kReusedUpTo = 256 * 1024;
  thread_local simdjson::dom::parser reused;
  simdjson::dom::parser large;
  auto& parser = body.size() <= kReusedUpTo ? reused : large;
  simdjson::dom::element root;
  // Copies the body into a padded buffer: simdjson reads up to 64 bytes past the end.
  if (auto error = parser.parse(body.data(), body.size(), true).get(root)) {
    // simdjson's messages describe the fault without quoting the input (which may hold secrets).
    throw AdmissionError(
        "", std::string("the request body is not valid JSON: ") + simdjson::error_message(error));
  }
  return build(root, Keep::kReview);
}

void appendMember(std::string& out, std::string_view key, std::string_view jsonValue) {
  if (out.back() != '{') out += ',';
  out += '"';
  out += key;
  out += "\":";
  out += jsonValue;
}

// {"apiVersion":...,"kind":"AdmissionReview","response":{"uid":... + members + "}}"
std::string review(std::string_view uid, bool allowed) {
  std::string out = R"({"apiVersion":")";
  out += kApiVersion;
  out += R"(","kind":"AdmissionReview","response":{)";
  out += R"("uid":)";
  encoding::appendJsonString(out, uid);
  appendMember(out, "allowed", allowed ? "true" : "false");
  return out;
}

}  // namespace

AdmissionRequest parseAdmissionReview(std::string_view body) {
  json document = parseKept(body);
  if (!document.is_object() || stringAt(document, "kind") != "AdmissionReview") {
    throw AdmissionError("", "the request body is not an AdmissionReview");
  }
  if (std::string apiVersion = stringAt(document, "apiVersion"); apiVersion != kApiVersion) {
    throw AdmissionError("", "AdmissionReview apiVersion is '" + apiVersion + "', expected " +
                                 std::string(kApiVersion) +
                                 " (set admissionReviewVersions: [v1] in the webhook)");
  }
  auto request = document.find("request");
  if (request == document.end() || !request->is_object()) {
    throw AdmissionError("", "the AdmissionReview has no request");
  }
  AdmissionRequest result;
  result.uid = stringAt(*request, "uid");
  if (result.uid.empty()) throw AdmissionError("", "the AdmissionReview request has no uid");
  result.operation = stringAt(*request, "operation");
  result.namespace_ = stringAt(*request, "namespace");
  auto dryRun = request->find("dryRun");
  result.dryRun = dryRun != request->end() && dryRun->is_boolean() && dryRun->get<bool>();

  auto object = request->find("object");
  if (object == request->end() || !object->is_object()) {
    throw AdmissionError(result.uid, "the AdmissionReview request has no object");
  }
  std::string kind = stringAt(*object, "kind");
  std::string apiVersion = stringAt(*object, "apiVersion");
  if (kind != "Pod" || apiVersion != "v1") {
    throw AdmissionError(result.uid, "the object is " +
                                         (kind.empty() ? std::string("of no kind") : "a " + kind) +
                                         (apiVersion.empty() ? "" : " " + apiVersion) +
                                         ", not a v1 Pod: the webhook is registered for Pods only");
  }
  result.pod = std::move(*object);
  return result;
}

std::string allowedResponse(std::string_view uid, std::string_view patch,
                            const std::vector<std::string>& warnings) {
  std::string out = review(uid, true);
  if (!patch.empty() && patch != "[]") {
    appendMember(out, "patchType", R"("JSONPatch")");
    out += R"(,"patch":")";
    encoding::appendBase64(out, patch);
    out += '"';
  }
  if (!warnings.empty()) appendMember(out, "warnings", json(warnings).dump());
  return out + "}}";
}

std::string errorResponse(std::string_view uid, int code, std::string_view message) {
  std::string out = review(uid, false);
  appendMember(out, "status", json{{"code", code}, {"message", message}}.dump());
  return out + "}}";
}

}  // namespace agentproxy::webhook
