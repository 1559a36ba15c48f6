#include "cli/flags.h"

#include "probe/proxy_url.h"

namespace agentproxy::cli {

std::optional<std::string> FlagReader::next() {
  if (index_ >= args_.size()) return std::nullopt;
  flag_ = args_[index_++];
  inline_ = false;
  inlineValue_.clear();
  if (auto eq = flag_.find('='); flag_.rfind("--", 0) == 0 && eq != std::string::npos) {
    inlineValue_ = flag_.substr(eq + 1);
    flag_ = flag_.substr(0, eq);
    inline_ = true;
  }
  return flag_;
}

std::string FlagReader::value() {
  if (inline_) return inlineValue_;
  if (index_ >= args_.size()) throw probe::InputError(flag_ + " needs a value");
  return args_[index_++];
}

}  // namespace agentproxy::cli
