#include "injection/json_patch.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace agentproxy::injection {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

std::string patchError(const json& document, const json& patch) {
  try {
    applyJsonPatch(document, patch);
  } catch (const PatchError& e) {
    return e.what();
  }
  return "no error";
}

TEST(EscapePointerToken, EscapesTildeBeforeSlash) {
  EXPECT_EQ(escapePointerToken("agentproxy.io/policy"), "agentproxy.io~1policy");
  EXPECT_EQ(escapePointerToken("a~/b"), "a~0~1b");
  EXPECT_EQ(escapePointerToken("plain"), "plain");
}

TEST(ApplyJsonPatch, AddCreatesMembersInsertsAndAppends) {
  json pod = {{"metadata", json::object()}, {"spec", {{"containers", {{{"name", "a"}}}}}}};
  json patch = json::parse(R"([
    {"op": "add", "path": "/metadata/annotations", "value": {"x": "1"}},
    {"op": "add", "path": "/metadata/annotations/agentproxy.io~1policy", "value": "p"},
    {"op": "add", "path": "/metadata/annotations/a~0b", "value": "t"},
    {"op": "add", "path": "/spec/containers/0/env", "value": [{"name": "B"}]},
    {"op": "add", "path": "/spec/containers/0/env/0", "value": {"name": "A"}},
    {"op": "add", "path": "/spec/containers/0/env/-", "value": {"name": "C"}},
    {"op": "add", "path": "/spec/containers/1", "value": {"name": "b"}}
  ])");
  json result = applyJsonPatch(pod, patch);
  EXPECT_EQ(result["metadata"]["annotations"],
            json({{"x", "1"}, {"agentproxy.io/policy", "p"}, {"a~b", "t"}}));
  EXPECT_EQ(result["spec"]["containers"][0]["env"],
            json::parse(R"([{"name": "A"}, {"name": "B"}, {"name": "C"}])"));
  EXPECT_EQ(result["spec"]["containers"][1]["name"], "b");
  EXPECT_EQ(result, pod.patch(patch)) << "nlohmann's own applier agrees";
  EXPECT_FALSE(pod["metadata"].contains("annotations")) << "the input is left alone";
}

TEST(ApplyJsonPatch, ReplaceAndRemove) {
  json doc = json::parse(R"({"a": {"b": 1, "c": 2}, "list": [1, 2, 3]})");
  json patch = json::parse(R"([
    {"op": "replace", "path": "/a/b", "value": 10},
    {"op": "remove", "path": "/a/c"},
    {"op": "replace", "path": "/list/0", "value": 0},
    {"op": "remove", "path": "/list/2"}
  ])");
  json result = applyJsonPatch(doc, patch);
  EXPECT_EQ(result, json::parse(R"({"a": {"b": 10}, "list": [0, 2]})"));
  EXPECT_EQ(result, doc.patch(patch));
  EXPECT_EQ(applyJsonPatch(doc, json::parse(R"([{"op": "replace", "path": "", "value": 1}])")),
            json(1));
}

TEST(ApplyJsonPatch, ErrorsNameTheOperationAndNeverCrash) {
  json doc = json::parse(R"({"a": {"b": 1}, "list": [1]})");
  EXPECT_THAT(patchError(doc, json::object()), HasSubstr("must be an array"));
  EXPECT_THAT(patchError(doc, json::parse(R"([{"op": "add", "path": "/x/y", "value": 1}])")),
              HasSubstr("operation 0 (/x/y): member 'x' does not exist"));
  EXPECT_THAT(patchError(doc, json::parse(R"([{"op": "replace", "path": "/a/z", "value": 1}])")),
              HasSubstr("member 'z' does not exist"));
  EXPECT_THAT(patchError(doc, json::parse(R"([{"op": "remove", "path": "/list/1"}])")),
              HasSubstr("index 1 is out of range (size 1)"));
  EXPECT_THAT(patchError(doc, json::parse(R"([{"op": "add", "path": "/list/5", "value": 1}])")),
              HasSubstr("out of range"));
  EXPECT_THAT(patchError(doc, json::parse(R"([{"op": "replace", "path": "/list/-", "value": 1}])")),
              HasSubstr("'-' is only valid for add"));
  EXPECT_THAT(patchError(doc, json::parse(R"([{"op": "add", "path": "/list/01", "value": 1}])")),
              HasSubstr("'01' is not an array index"));
  EXPECT_THAT(patchError(doc, json::parse(R"([{"op": "add", "path": "/a/b/c", "value": 1}])")),
              HasSubstr("neither an object nor an array"));
  EXPECT_THAT(patchError(doc, json::parse(R"([{"op": "move", "from": "/a", "path": "/b"}])")),
              HasSubstr("unsupported op 'move'"));
  EXPECT_THAT(patchError(doc, json::parse(R"([{"op": "add", "path": "/a/x"}])")),
              HasSubstr("missing 'value'"));
  EXPECT_THAT(patchError(doc, json::parse(R"([{"op": "add", "path": "a", "value": 1}])")),
              HasSubstr("start with '/'"));
  EXPECT_THAT(patchError(doc, json::parse(R"([{"op": "add", "path": "/a~2", "value": 1}])")),
              HasSubstr("'~' must be followed by '0' or '1'"));
  EXPECT_THAT(patchError(doc, json::parse(R"([{"path": "/a"}])")),
              HasSubstr("missing string 'op'"));
  EXPECT_THAT(patchError(doc, json::parse(R"([{"op": "remove", "path": ""}])")),
              HasSubstr("cannot remove the whole document"));
}

}  // namespace
}  // namespace agentproxy::injection
