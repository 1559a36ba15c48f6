#include "runtime/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace agentproxy::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(Metrics, CounterWithLabels) {
  MetricsRegistry registry;
  CounterFamily& reconciles =
      registry.counter("agentproxy_reconcile_total", "Reconciles by result.", {"result"});
  reconciles.withLabels({"success"}).inc();
  reconciles.withLabels({"success"}).inc();
  reconciles.withLabels({"error"}).inc();
  EXPECT_THAT(lines(registry.render()),
              ElementsAre("# HELP agentproxy_reconcile_total Reconciles by result.",
                          "# TYPE agentproxy_reconcile_total counter",
                          "agentproxy_reconcile_total{result=\"error\"} 1",
                          "agentproxy_reconcile_total{result=\"success\"} 2"));
}

TEST(Metrics, UnlabelledMetricsAreScrapedAsZeroBeforeFirstUse) {
  MetricsRegistry registry;
  registry.counter("agentproxy_reconcile_errors_total", "Reconcile errors.");
  registry.gauge("agentproxy_leader", "1 when this replica leads.");
  EXPECT_THAT(lines(registry.render()),
              ElementsAre("# HELP agentproxy_leader 1 when this replica leads.",
                          "# TYPE agentproxy_leader gauge", "agentproxy_leader 0",
                          "# HELP agentproxy_reconcile_errors_total Reconcile errors.",
                          "# TYPE agentproxy_reconcile_errors_total counter",
                          "agentproxy_reconcile_errors_total 0"));
}

TEST(Metrics, LabelledFamilyWithoutSeriesIsLeftOut) {
  MetricsRegistry registry;
  registry.counter("agentproxy_reconcile_total", "Reconciles.", {"result"});
  EXPECT_EQ(registry.render(), "");
}

TEST(Metrics, GaugeSetsAddsAndRemovesSeries) {
  MetricsRegistry registry;
  GaugeFamily& classification =
      registry.gauge("agentproxy_policy_classification",
                     "1 for the policy's current classification.", {"policy", "classification"});
  classification.withLabels({"corp", "Supported"}).set(1);
  classification.withLabels({"corp", "Warn"}).set(0);
  GaugeFamily& depth = registry.gauge("agentproxy_workqueue_depth", "Keys waiting.");
  depth.withLabels({}).add(3);
  depth.withLabels({}).add(-1);
  EXPECT_TRUE(classification.remove({"corp", "Warn"}));
  EXPECT_FALSE(classification.remove({"corp", "Warn"}));
  EXPECT_THAT(
      lines(registry.render()),
      ElementsAre(
          "# HELP agentproxy_policy_classification 1 for the policy's current classification.",
          "# TYPE agentproxy_policy_classification gauge",
          "agentproxy_policy_classification{policy=\"corp\",classification=\"Supported\"} 1",
          "# HELP agentproxy_workqueue_depth Keys waiting.",
          "# TYPE agentproxy_workqueue_depth gauge", "agentproxy_workqueue_depth 2"));
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  MetricsRegistry registry;
  HistogramFamily& duration = registry.histogram("agentproxy_probe_duration_seconds",
                                                 "Probe duration.", {"result"}, {0.25, 1, 2.5});
  Histogram& ok = duration.withLabels({"ok"});
  ok.observe(0.125);
  ok.observe(0.25);  // on the bound: counted in le="0.25"
  ok.observe(0.5);
  ok.observe(8);
  EXPECT_THAT(lines(registry.render()),
              ElementsAre("# HELP agentproxy_probe_duration_seconds Probe duration.",
                          "# TYPE agentproxy_probe_duration_seconds histogram",
                          "agentproxy_probe_duration_seconds_bucket{result=\"ok\",le=\"0.25\"} 2",
                          "agentproxy_probe_duration_seconds_bucket{result=\"ok\",le=\"1\"} 3",
                          "agentproxy_probe_duration_seconds_bucket{result=\"ok\",le=\"2.5\"} 3",
                          "agentproxy_probe_duration_seconds_bucket{result=\"ok\",le=\"+Inf\"} 4",
                          "agentproxy_probe_duration_seconds_sum{result=\"ok\"} 8.875",
                          "agentproxy_probe_duration_seconds_count{result=\"ok\"} 4"));
}

TEST(Metrics, HistogramWithoutLabelsUsesDefaultBuckets) {
  MetricsRegistry registry;
  registry.histogram("h_seconds", "H.").withLabels({}).observe(1);
  const std::vector<std::string> out = lines(registry.render());
  ASSERT_EQ(out.size(), 2u + 12u + 2u);
  EXPECT_EQ(out[2], "h_seconds_bucket{le=\"0.005\"} 0");
  EXPECT_EQ(out[9], "h_seconds_bucket{le=\"1\"} 1");
  EXPECT_EQ(out[12], "h_seconds_bucket{le=\"10\"} 1");
  EXPECT_EQ(out[13], "h_seconds_bucket{le=\"+Inf\"} 1");
  EXPECT_EQ(out[14], "h_seconds_sum 1");
  EXPECT_EQ(out[15], "h_seconds_count 1");
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  MetricsRegistry registry;
  registry.counter("c_total", "Back\\slash and\nnewline \"kept\".", {"policy"})
      .withLabels({"a\\b\"c\nd"})
      .inc(2.5);
  EXPECT_THAT(lines(registry.render()),
              ElementsAre("# HELP c_total Back\\\\slash and\\nnewline \"kept\".",
                          "# TYPE c_total counter", "c_total{policy=\"a\\\\b\\\"c\\nd\"} 2.5"));
}

TEST(Metrics, FamiliesAndSeriesRenderInStableOrder) {
  MetricsRegistry registry;
  CounterFamily& zeta = registry.counter("zeta_total", "Z.", {"k"});
  registry.counter("alpha_total", "A.");
  zeta.withLabels({"b"}).inc();
  zeta.withLabels({"a"}).inc();
  const std::string first = registry.render();
  EXPECT_LT(first.find("alpha_total"), first.find("zeta_total"));
  EXPECT_LT(first.find("k=\"a\""), first.find("k=\"b\""));
  EXPECT_EQ(registry.render(), first);
}

TEST(Metrics, ReRegisteringTheSameDefinitionReturnsTheSameFamily) {
  MetricsRegistry registry;
  CounterFamily& first = registry.counter("x_total", "X.", {"result"});
  EXPECT_EQ(&registry.counter("x_total", "X.", {"result"}), &first);
  EXPECT_THROW(registry.counter("x_total", "Other help.", {"result"}), std::invalid_argument);
  EXPECT_THROW(registry.gauge("x_total", "X.", {"result"}), std::invalid_argument);
}

TEST(Metrics, RejectsProgrammingErrors) {
  MetricsRegistry registry;
  EXPECT_THROW(registry.counter("bad-name", "B."), std::invalid_argument);
  EXPECT_THROW(registry.counter("1bad", "B."), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok_total", "B.", {"bad-label"}), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok_total", "B.", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok_total", "B.", {"a", "a"}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h", "H.", {"le"}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h", "H.", {}, {1, 1}), std::invalid_argument);
  CounterFamily& family = registry.counter("ok_total", "B.", {"result"});
  EXPECT_THROW(family.withLabels({}), std::invalid_argument);
  EXPECT_THROW(family.withLabels({"a"}).inc(-1), std::invalid_argument);
}

TEST(Metrics, ConcurrentIncrementsAreAllCounted) {
  MetricsRegistry registry;
  CounterFamily& counter = registry.counter("c_total", "C.", {"worker"});
  HistogramFamily& histogram = registry.histogram("h", "H.", {}, {1});
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10'000; ++i) {
        counter.withLabels({"shared"}).inc();
        histogram.withLabels({}).observe(0.5);
      }
    });
  }
  std::thread scraper([&] {
    for (int i = 0; i < 50; ++i) EXPECT_THAT(registry.render(), HasSubstr("# TYPE h histogram"));
  });
  for (std::thread& thread : threads) thread.join();
  scraper.join();
  EXPECT_EQ(counter.withLabels({"shared"}).value(), 40'000);
  EXPECT_THAT(registry.render(), HasSubstr("h_count 40000\n"));
  EXPECT_THAT(registry.render(), HasSubstr("h_bucket{le=\"+Inf\"} 40000\n"));
}

}  // namespace
}  // namespace agentproxy::runtime
