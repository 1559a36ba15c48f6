// `agentproxy probe`: flags in, report out, exit code by the worst classification.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "probe/prober.h"
#include "probe/runtime_verdict.h"

namespace agentproxy::cli {

constexpr int kExitUsage = 64;

// Parses the flags after "probe" into a request, reading and checking CA files. Throws
// probe::InputError with a one-line reason. Sets `json` from --output.
// --runtime and --no-proxy fill `runtimes` when given (verdicts are asked for when
// runtimes->runtimes or runtimes->noProxy is not empty).
probe::ProbeRequest parseProbeFlags(const std::vector<std::string>& args, bool& json,
                                    probe::RuntimeContext* runtimes = nullptr);

// Runs the command; returns the process exit code (0/1/2, 64 for usage errors).
// processExitsAfter: see ProbeRequest; only main(), which ends the process with std::_Exit.
int runProbeCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                    bool processExitsAfter = false);

extern const char kProbeUsage[];

}  // namespace agentproxy::cli
