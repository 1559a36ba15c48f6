// The operator's structured log: one JSON object per line,
// {"ts":"2026-11-27T11:05:00.123Z","level":"info","msg":"...",<fields>...}.
//
// Guarantees:
// - Each entry is written whole with one write under a lock: concurrent entries never
//   interleave. Entries below the level threshold are dropped before redaction and formatting.
// - Nothing registered with addSecret() reaches the stream: msg, field keys and every string in
//   field values (nested ones included) go through Redactor, which also masks the password of
//   any URL with userinfo. Invalid UTF-8 is replaced, never thrown.
// - A field named ts, level or msg is written as field.ts (etc.) so it cannot forge those.
// - ts is RFC 3339 UTC with milliseconds, from the injected Clock's wallNow().
// Assumptions: the stream outlives the logger.
#pragma once

#include <atomic>
#include <initializer_list>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "runtime/clock.h"
#include "runtime/redaction.h"

namespace agentproxy::runtime {

enum class LogLevel { Debug, Info, Warn, Error };

std::string_view toString(LogLevel level);

struct LogField {
  std::string key;
  nlohmann::json value;
};

class Logger {
 public:
  explicit Logger(std::ostream& out = std::cerr, LogLevel threshold = LogLevel::Info,
                  Clock& clock = systemClock());

  void setLevel(LogLevel threshold);
  bool enabled(LogLevel level) const;
  // E.g. a proxy password or a bearer token, as soon as it is read.
  void addSecret(std::string value);
  // The secrets registered here, for text that leaves the process other than through the log
  // (Event messages, status conditions).
  const Redactor& redactor() const { return redactor_; }
  Redactor& redactor() { return redactor_; }

  void log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});
  void debug(std::string_view msg, std::initializer_list<LogField> fields = {});
  void info(std::string_view msg, std::initializer_list<LogField> fields = {});
  void warn(std::string_view msg, std::initializer_list<LogField> fields = {});
  void error(std::string_view msg, std::initializer_list<LogField> fields = {});

 private:

  std::ostream& out_;
  std::atomic<LogLevel> threshold_;
  Clock& clock_;
  Redactor redactor_;
  std::mutex writeMutex_;
};

// RFC 3339, UTC, milliseconds: 2026-11-27T11:05:00.123Z.
std::string formatLogTime(Clock::WallTime time);

}  // namespace agentproxy::runtime
