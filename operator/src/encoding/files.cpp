#include "encoding/files.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace agentproxy::encoding {

std::optional<std::string> readFile(const std::filesystem::path& path, std::string* why) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    if (why) *why = "it is a directory";
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (why) *why = std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace agentproxy::encoding
