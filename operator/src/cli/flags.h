// Reading GNU-style long flags: "--name value" and "--name=value", one at a time.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace agentproxy::cli {

class FlagReader {
 public:
  explicit FlagReader(const std::vector<std::string>& args) : args_(args) {}

  // The next flag's name ("--proxy"), or nullopt at the end.
  std::optional<std::string> next();
  // The current flag's value: after "=", or the next argument. Throws probe::InputError
  // ("--proxy needs a value") when there is none.
  std::string value();
  // For boolean flags: true unless written "--flag=false".
  bool enabled() const { return !inline_ || inlineValue_ != "false"; }

 private:
  const std::vector<std::string>& args_;
  size_t index_ = 0;
  std::string flag_;
  std::string inlineValue_;
  bool inline_ = false;
};

}  // namespace agentproxy::cli
