// Whole files read into memory: certificates, keys, tokens, kubeconfigs and the command line's
// input files. The one reader of a file's bytes for every folder.
//
// Guarantees: the bytes as they are on disk (no newline or encoding changes); a file that
// cannot be read (missing, no permission, a directory) is nullopt with the reason in words,
// never an exception and never an empty text.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace agentproxy::encoding {

// The bytes of the file at `path`; nullopt when it cannot be read, with the reason ("No such
// file or directory", "it is a directory") in `*why` when `why` is given.
std::optional<std::string> readFile(const std::filesystem::path& path, std::string* why = nullptr);

}  // namespace agentproxy::encoding
