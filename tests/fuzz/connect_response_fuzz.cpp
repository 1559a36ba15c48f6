// CONNECT answers as a proxy may send them: parsing, fingerprinting and the report built from
// them. Property: whatever the bytes, every text kept is safe (safe_text.h) and the JSON report
// dumps.
#include <stdexcept>

#include "fuzz_target.h"
#include "probe/classify.h"
#include "probe/connect_response.h"
#include "probe/report.h"
#include "probe/safe_text.h"

using namespace agentproxy::probe;
using agentproxy::fuzz::fuzzCheck;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto raw = agentproxy::fuzz::asText(data, size);
  HttpResponseHead head;
  try {
    head = parseResponseHead(raw);
  } catch (const std::invalid_argument& e) {
    fuzzCheck(isSafeText(e.what()), "a parse error quotes the proxy's bytes unsafely");
    return 0;
  }
  fuzzCheck(head.status >= 100 && head.status <= 999, "status out of range");
  fuzzCheck(isSafeText(head.reason), "unsafe reason phrase");
  for (const auto& [name, value] : head.headers) {
    fuzzCheck(isSafeText(name) && isSafeText(value), "unsafe header");
  }
  TargetReport target;
  target.address = "mgmt.example:443";
  target.tunnel = tunnelStateFor(head.status);
  target.failedStep = ProbeStep::Connect;
  target.connectStatus = head.status;
  target.connectReason = head.reason;
  target.squidError = head.header("X-Squid-Error").value_or("");
  target.proxyServer = fingerprint(head);
  fuzzCheck(isSafeText(target.proxyServer), "unsafe fingerprint");
  if (target.tunnel == TunnelState::Established) target.tlsHandshakeDone = true;
  ProbeReport report;
  report.targets.push_back(target);
  classifyReport(report, "127.0.0.1:3128");
  fuzzCheck(isSafeText(report.targets[0].message), "unsafe message");
  (void)toJson(report);  // throws (a crash here) on invalid UTF-8
  (void)toText(report);
  return 0;
}
