// DESIGN.md's classification table as a pure function of what the probe observed, with a
// message that names the cause and the remedy. No I/O.
#pragma once

#include <string>

#include "probe/report.h"

namespace agentproxy::probe {

struct Verdict {
  Classification classification = Classification::Unknown;
  std::string reason;  // CamelCase cause, for conditions: UntrustedInterceptor, NoHTTP2, ...
  std::string message;
};

// `proxy` is the proxy's redacted host:port, used in messages.
Verdict classify(const TargetReport& target, const std::string& proxy);

// Fills classification, reason and message of every target and of the whole report.
void classifyReport(ProbeReport& report, const std::string& proxy);

}  // namespace agentproxy::probe
