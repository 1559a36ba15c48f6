// Counters, gauges and histograms with labels, rendered in the Prometheus text exposition
// format 0.0.4 for the operator's /metrics endpoint.
//
// Guarantees: increments, sets and observations are thread-safe and may run concurrently with
// render(); render() lists families by name and series by label values, so the output is
// stable; label values are escaped (\\, \", \n) and HELP text too (\\, \n); a histogram's
// buckets are cumulative, end with le="+Inf", and equal _count. Registering a name again with
// the same type, help, labels (and buckets) returns the existing family.
// Assumptions: names are chosen by the program, so an invalid metric or label name, a clash
// with an earlier registration, a negative counter increment or the wrong number of label
// values is a programming error and throws std::invalid_argument.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

namespace agentproxy::runtime {

using LabelValues = std::vector<std::string>;

class Counter {
 public:
  void inc(double by = 1);
  double value() const;

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void set(double value);
  void add(double by);
  double value() const;

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  struct Snapshot {
    std::vector<std::uint64_t> cumulativeCounts;  // one per upper bound, then +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };

  explicit Histogram(std::vector<double> upperBounds);
  void observe(double value);
  Snapshot snapshot() const;

 private:
  const std::vector<double> upperBounds_;
  mutable std::mutex mutex_;
  std::vector<std::uint64_t> counts_;  // per bucket, not cumulative; last is +Inf
  double sum_ = 0;
};

// Prometheus' default buckets, in seconds.
const std::vector<double>& defaultBuckets();

// The series of one metric, one per combination of label values. References returned by
// withLabels() stay valid until remove() of those values or the registry's destruction.
template <typename Metric>
class Family {
 public:
  Metric& withLabels(const LabelValues& values);
  // Drops a series, e.g. the gauge of a deleted policy; true when it existed.
  bool remove(const LabelValues& values);

 private:
  friend class MetricsRegistry;
  Family(std::string name, std::string help, std::vector<std::string> labelNames,
         std::vector<double> buckets);

  void renderTo(std::string& out) const;

  const std::string name_;
  const std::string help_;
  const std::vector<std::string> labelNames_;
  const std::vector<double> buckets_;  // histograms only
  mutable std::mutex mutex_;
  std::map<LabelValues, std::unique_ptr<Metric>> series_;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class MetricsRegistry {
 public:
  CounterFamily& counter(const std::string& name, const std::string& help,
                         const std::vector<std::string>& labelNames = {});
  GaugeFamily& gauge(const std::string& name, const std::string& help,
                     const std::vector<std::string>& labelNames = {});
  HistogramFamily& histogram(const std::string& name, const std::string& help,
                             const std::vector<std::string>& labelNames = {},
                             const std::vector<double>& buckets = defaultBuckets());

  // The whole registry in text format 0.0.4 (Content-Type "text/plain; version=0.0.4").
  std::string render() const;

 private:
  template <typename Metric>
  Family<Metric>& registerFamily(const std::string& name, const std::string& help,
                                 const std::vector<std::string>& labelNames,
                                 const std::vector<double>& buckets);

  using AnyFamily = std::variant<std::unique_ptr<CounterFamily>, std::unique_ptr<GaugeFamily>,
                                 std::unique_ptr<HistogramFamily>>;

  mutable std::mutex mutex_;
  std::map<std::string, AnyFamily> families_;  // by name: one namespace for all types
};

}  // namespace agentproxy::runtime
