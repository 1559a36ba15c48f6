// `agentproxy probe`: flags in, report out, exit code by the worst classification.
#pragma once

#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "probe/prober.h"
#include "probe/runtime_verdict.h"

namespace agentproxy::cli {

constexpr int kExitUsage = 64;

// Where the probe looks besides its flags: the environment (HTTPS_PROXY, https_proxy), which
// keeps a proxy password out of ps and shell history. Tests supply their own lookup.
struct ProbeEnvironment {
  std::function<std::optional<std::string>(const std::string&)> getenv;  // std::getenv if empty
};

// Parses the flags after "probe" into a request, reading and checking CA files and the
// credentials file. The proxy is --proxy, else $HTTPS_PROXY, else $https_proxy; credentials
// come from --proxy-credentials-file or the URL's user:password. Throws probe::InputError with
// a one-line reason (never the password). Sets `json` from --output; `notices` gets advice for
// stderr (a password typed on the command line). --runtime and --no-proxy fill `runtimes` when
// given (verdicts are asked for when runtimes->runtimes or runtimes->noProxy is not empty).
probe::ProbeRequest parseProbeFlags(const std::vector<std::string>& args, bool& json,
                                    const ProbeEnvironment& environment = {},
                                    std::vector<std::string>* notices = nullptr,
                                    probe::RuntimeContext* runtimes = nullptr);

// Reads proxy credentials: a file of "username=..." and "password=..." lines (# comments and
// blank lines ignored), or a directory with files named username and password (a mounted
// Secret, as credentialsSecretRef holds them). Trailing newlines are dropped. Throws
// probe::InputError naming the path and what is missing.
void readProxyCredentials(const std::string& path, std::string& username, std::string& password);

// Runs the command; returns the process exit code (0/1/2, 64 for usage errors).
// processExitsAfter: see ProbeRequest; only main(), which ends the process with std::_Exit.
int runProbeCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                    bool processExitsAfter = false);

extern const char kProbeUsage[];

}  // namespace agentproxy::cli
