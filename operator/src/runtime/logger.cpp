#include "runtime/logger.h"

#include <cstdio>
#include <utility>

namespace agentproxy::runtime {

std::string_view toString(LogLevel level) {
  switch (level) {
    case LogLevel::Debug:
      return "debug";
    case LogLevel::Info:
      return "info";
    case LogLevel::Warn:
      return "warn";
    case LogLevel::Error:
      return "error";
  }
  return "error";
}

std::string formatLogTime(Clock::WallTime time) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(time);
  const auto day = floor<days>(ms);
  const year_month_day date(day);
  const hh_mm_ss<milliseconds> clock(ms - day);
  char buffer[32];
  std::snprintf(
      buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(date.year()),
      static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
      static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
      static_cast<int>(clock.seconds().count()), static_cast<int>(clock.subseconds().count()));
  return buffer;
}

Logger::Logger(std::ostream& out, LogLevel threshold, Clock& clock)
    : out_(out), threshold_(threshold), clock_(clock) {}

void Logger::setLevel(LogLevel threshold) { threshold_.store(threshold); }

bool Logger::enabled(LogLevel level) const { return level >= threshold_.load(); }

void Logger::addSecret(std::string value) { redactor_.addSecret(std::move(value)); }

void Logger::log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  if (!enabled(level)) return;
  nlohmann::ordered_json entry;
  entry["ts"] = formatLogTime(clock_.wallNow());
  entry["level"] = toString(level);
  entry["msg"] = redactor_.redact(msg);
  for (const LogField& field : fields) {
    std::string key = redactor_.redact(field.key);
    if (key == "ts" || key == "level" || key == "msg") key.insert(0, "field.");
    entry[key] = redactor_.redactJson(field.value);
  }
  std::string line = entry.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line += '\n';
  std::lock_guard<std::mutex> lock(writeMutex_);
  out_.write(line.data(), static_cast<std::streamsize>(line.size()));
  out_.flush();
}

void Logger::debug(std::string_view msg, std::initializer_list<LogField> fields) {
  log(LogLevel::Debug, msg, fields);
}

void Logger::info(std::string_view msg, std::initializer_list<LogField> fields) {
  log(LogLevel::Info, msg, fields);
}

void Logger::warn(std::string_view msg, std::initializer_list<LogField> fields) {
  log(LogLevel::Warn, msg, fields);
}

void Logger::error(std::string_view msg, std::initializer_list<LogField> fields) {
  log(LogLevel::Error, msg, fields);
}

}  // namespace agentproxy::runtime
