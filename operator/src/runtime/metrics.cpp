#include "runtime/metrics.h"

#include <charconv>
#include <cmath>
#include <set>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace agentproxy::runtime {

namespace {

template <typename Metric>
constexpr const char* typeName() {
  if constexpr (std::is_same_v<Metric, Counter>) {
    return "counter";
  } else if constexpr (std::is_same_v<Metric, Gauge>) {
    return "gauge";
  } else {
    return "histogram";
  }
}

// Go's strconv.FormatFloat(v, 'g', -1, 64) as client_golang writes values and le bounds:
// the shortest text that reads back as the same double.
std::string formatNumber(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

void appendEscaped(std::string& out, const std::string& text, bool escapeQuote) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escapeQuote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// {a="x",b="y"}, with `extraName`="`extraValue`" last when given (a histogram's le); nothing
// when there are no labels at all.
void appendLabels(std::string& out, const std::vector<std::string>& names,
                  const LabelValues& values, const char* extraName = nullptr,
                  const std::string& extraValue = {}) {
  if (names.empty() && extraName == nullptr) return;
  out += '{';
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    appendEscaped(out, values[i], true);
    out += '"';
  }
  if (extraName != nullptr) {
    if (!names.empty()) out += ',';
    out += extraName;
    out += "=\"";
    out += extraValue;
    out += '"';
  }
  out += '}';
}

void appendSample(std::string& out, const std::string& name, const std::vector<std::string>& names,
                  const LabelValues& values, double value, const char* extraName = nullptr,
                  const std::string& extraValue = {}) {
  out += name;
  appendLabels(out, names, values, extraName, extraValue);
  out += ' ';
  out += formatNumber(value);
  out += '\n';
}

bool validName(const std::string& name, bool allowColon) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allowColon && c == ':');
    const bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0)) return false;
  }
  return true;
}

std::invalid_argument labelError(const std::string& metric, const std::string& label,
                                 const char* problem) {
  std::string message = "metric ";
  message += metric;
  message += ": label '";
  message += label;
  message += "' ";
  message += problem;
  return std::invalid_argument(message);
}

template <typename Metric>
void validate(const std::string& name, const std::vector<std::string>& labelNames,
              const std::vector<double>& buckets) {
  if (!validName(name, true)) throw std::invalid_argument("invalid metric name '" + name + "'");
  std::set<std::string> seen;
  for (const std::string& label : labelNames) {
    if (!validName(label, false) || label.rfind("__", 0) == 0) {
      throw labelError(name, label, "is not a valid label name");
    }
    if (std::is_same_v<Metric, Histogram> && label == "le") {
      throw std::invalid_argument("histogram " + name + ": label 'le' is reserved");
    }
    if (!seen.insert(label).second) {
      throw labelError(name, label, "is repeated");
    }
  }
  for (std::size_t i = 0; i < buckets.size(); ++i) {
    if (!std::isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1]))) {
      throw std::invalid_argument("histogram " + name +
                                  ": buckets must be finite and strictly increasing");
    }
  }
}

}  // namespace

void Counter::inc(double by) {
  if (!(by >= 0)) throw std::invalid_argument("a counter only goes up");
  value_.fetch_add(by);
}

double Counter::value() const { return value_.load(); }

void Gauge::set(double value) { value_.store(value); }

void Gauge::add(double by) { value_.fetch_add(by); }

double Gauge::value() const { return value_.load(); }

Histogram::Histogram(std::vector<double> upperBounds)
    : upperBounds_(std::move(upperBounds)), counts_(upperBounds_.size() + 1, 0) {}

void Histogram::observe(double value) {
  std::size_t bucket = 0;
  while (bucket < upperBounds_.size() && value > upperBounds_[bucket]) ++bucket;
  std::lock_guard<std::mutex> lock(mutex_);
  ++counts_[bucket];
  sum_ += value;
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot snapshot;
  std::lock_guard<std::mutex> lock(mutex_);
  snapshot.cumulativeCounts.reserve(counts_.size());
  for (const std::uint64_t count : counts_) {
    snapshot.count += count;
    snapshot.cumulativeCounts.push_back(snapshot.count);
  }
  snapshot.sum = sum_;
  return snapshot;
}

const std::vector<double>& defaultBuckets() {
  static const std::vector<double> buckets{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
  return buckets;
}

template <typename Metric>
Family<Metric>::Family(std::string name, std::string help, std::vector<std::string> labelNames,
                       std::vector<double> buckets)
    : name_(std::move(name)),
      help_(std::move(help)),
      labelNames_(std::move(labelNames)),
      buckets_(std::move(buckets)) {
  // A metric without labels exists from registration, so it is scraped as 0 before first use.
  if (labelNames_.empty()) withLabels({});
}

template <typename Metric>
Metric& Family<Metric>::withLabels(const LabelValues& values) {
  if (values.size() != labelNames_.size()) {
    throw std::invalid_argument("metric " + name_ + ": expected " +
                                std::to_string(labelNames_.size()) + " label values, got " +
                                std::to_string(values.size()));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  std::unique_ptr<Metric>& metric = series_[values];
  if (!metric) {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      metric = std::make_unique<Histogram>(buckets_);
    } else {
      metric = std::make_unique<Metric>();
    }
  }
  return *metric;
}

template <typename Metric>
bool Family<Metric>::remove(const LabelValues& values) {
  std::lock_guard<std::mutex> lock(mutex_);
  return series_.erase(values) != 0;
}

template <typename Metric>
void Family<Metric>::renderTo(std::string& out) const {
  std::lock_guard<std::mutex> lock(mutex_);
  // As client_golang does, a labelled family that has no series yet is left out entirely.
  if (series_.empty()) return;
  out += "# HELP " + name_ + ' ';
  appendEscaped(out, help_, false);
  out += "\n# TYPE " + name_ + ' ' + typeName<Metric>() + '\n';
  for (const auto& [values, metric] : series_) {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      const Histogram::Snapshot snapshot = metric->snapshot();
      for (std::size_t i = 0; i < snapshot.cumulativeCounts.size(); ++i) {
        const double bound = i < buckets_.size() ? buckets_[i] : INFINITY;
        appendSample(out, name_ + "_bucket", labelNames_, values,
                     static_cast<double>(snapshot.cumulativeCounts[i]), "le", formatNumber(bound));
      }
      appendSample(out, name_ + "_sum", labelNames_, values, snapshot.sum);
      appendSample(out, name_ + "_count", labelNames_, values, static_cast<double>(snapshot.count));
    } else {
      appendSample(out, name_, labelNames_, values, metric->value());
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

CounterFamily& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                        const std::vector<std::string>& labelNames) {
  return registerFamily<Counter>(name, help, labelNames, {});
}

GaugeFamily& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                                    const std::vector<std::string>& labelNames) {
  return registerFamily<Gauge>(name, help, labelNames, {});
}

HistogramFamily& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                            const std::vector<std::string>& labelNames,
                                            const std::vector<double>& buckets) {
  return registerFamily<Histogram>(name, help, labelNames, buckets);
}

template <typename Metric>
Family<Metric>& MetricsRegistry::registerFamily(const std::string& name, const std::string& help,
                                                const std::vector<std::string>& labelNames,
                                                const std::vector<double>& buckets) {
  validate<Metric>(name, labelNames, buckets);
  std::lock_guard<std::mutex> lock(mutex_);
  const auto existing = families_.find(name);
  if (existing != families_.end()) {
    auto* family = std::get_if<std::unique_ptr<Family<Metric>>>(&existing->second);
    if (family == nullptr || (*family)->help_ != help || (*family)->labelNames_ != labelNames ||
        (*family)->buckets_ != buckets) {
      throw std::invalid_argument("metric " + name + " is already registered differently");
    }
    return **family;
  }
  auto family =
      std::unique_ptr<Family<Metric>>(new Family<Metric>(name, help, labelNames, buckets));
  Family<Metric>& result = *family;
  families_.emplace(name, std::move(family));
  return result;
}

std::string MetricsRegistry::render() const {
  std::string out;
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [name, family] : families_) {
    std::visit([&out](const auto& f) { f->renderTo(out); }, family);
  }
  return out;
}

}  // namespace agentproxy::runtime
