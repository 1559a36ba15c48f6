#include "controller/informer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace agentproxy::controller {
namespace {

using nlohmann::json;

json policyAsStored() {
  return json::parse(R"({
    "apiVersion": "agentproxy.io/v1alpha1", "kind": "ProxyPolicy",
    "metadata": {
      "name": "corp", "uid": "u-1", "resourceVersion": "42", "generation": 3,
      "labels": {"team": "edge"},
      "annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"agentproxy.io/v1alpha1\"}",
        "note": "kept"},
      "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update",
                         "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]
    },
    "spec": {"proxy": {"httpsProxy": "http://proxy:3128"}},
    "status": {"classification": "Supported"}
  })");
}

TEST(InformerTrim, WithoutBookkeepingDropsOnlyWhatTheApiServerKeepsForItself) {
  json stored = policyAsStored();
  json kept = Informer::withoutBookkeeping(stored);
  EXPECT_FALSE(kept["metadata"].contains("managedFields"));
  EXPECT_EQ(kept["metadata"]["annotations"], json({{"note", "kept"}}));
  // Everything else as it was.
  stored["metadata"].erase("managedFields");
  stored["metadata"]["annotations"].erase("kubectl.kubernetes.io/last-applied-configuration");
  EXPECT_EQ(kept, stored);
  // Objects without metadata or annotations pass through.
  EXPECT_EQ(Informer::withoutBookkeeping(json::object()), json::object());
  EXPECT_EQ(Informer::withoutBookkeeping({{"metadata", {{"name", "x"}}}}),
            json({{"metadata", {{"name", "x"}}}}));
}

TEST(InformerTrim, MetadataOnlyKeepsNoData) {
  json secret = {{"metadata", {{"name", "proxy-auth"}, {"resourceVersion", "7"}}},
                 {"data", {{"password", "aHVudGVyMg=="}}}};
  EXPECT_EQ(Informer::metadataOnly(secret), json({{"metadata", secret["metadata"]}}));
}

}  // namespace
}  // namespace agentproxy::controller
