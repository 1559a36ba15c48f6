#include "controller/conditions.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace agentproxy::controller {
namespace {

TEST(SetStatusCondition, TransitionTimeMovesOnlyWhenStatusMoves) {
  std::vector<Condition> cs;
  EXPECT_TRUE(setStatusCondition(cs, {"Ready", "False", "ConnectRefused", "m1", 1, ""}, "t1"));
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].lastTransitionTime, "t1");

  // Same status, new reason and message: updated in place, time kept.
  EXPECT_TRUE(setStatusCondition(cs, {"Ready", "False", "ProbeTimeout", "m2", 2, ""}, "t2"));
  EXPECT_EQ(cs[0].reason, "ProbeTimeout");
  EXPECT_EQ(cs[0].observedGeneration, 2);
  EXPECT_EQ(cs[0].lastTransitionTime, "t1");

  // Nothing new: nothing changes, so nothing needs writing.
  EXPECT_FALSE(setStatusCondition(cs, {"Ready", "False", "ProbeTimeout", "m2", 2, ""}, "t3"));
  EXPECT_EQ(cs[0].lastTransitionTime, "t1");

  // Status flips: the time moves.
  EXPECT_TRUE(setStatusCondition(cs, {"Ready", "True", "Supported", "ok", 2, ""}, "t4"));
  EXPECT_EQ(cs[0].lastTransitionTime, "t4");
  EXPECT_EQ(cs.size(), 1u);
}

TEST(Conditions, JsonRoundTripAndMalformedInput) {
  std::vector<Condition> cs = {{"SpecValid", "True", "Valid", "fine", 3, "2026-11-27T10:00:00Z"}};
  auto json = conditionsToJson(cs);
  EXPECT_EQ(json[0]["type"], "SpecValid");
  EXPECT_EQ(json[0]["observedGeneration"], 3);
  EXPECT_EQ(conditionsFromJson(json), cs);
  auto junk = nlohmann::json::parse(
      R"([1, {"status": "True"}, {"type": "Ready", "observedGeneration": "x"}])");
  auto parsed = conditionsFromJson(junk);
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0].type, "Ready");
  EXPECT_TRUE(conditionsFromJson(nlohmann::json("nope")).empty());
}

}  // namespace
}  // namespace agentproxy::controller
