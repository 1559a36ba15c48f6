#include "cli/probe_command.h"

#include <ostream>

#include "cli/flags.h"
#include "probe/duration.h"
#include "probe/pem.h"

namespace agentproxy::cli {

const char kProbeUsage[] =
    "usage: agentproxy probe --proxy URL --target HOST:PORT [--target ...] [--server-name N]\n"
    "                        [--target-ca FILE]... [--trust-ca FILE]... [--websocket-path P]\n"
    "                        [--timeout 10s] [--output text|json]\n"
    "\n"
    "Proves with a real gRPC call whether gRPC reaches each target through the proxy.\n"
    "  --proxy URL           http://[user:password@]host:port or https://... (required)\n"
    "  --target HOST:PORT    a gRPC endpoint; repeat for several (required)\n"
    "  --server-name N       TLS server name to send and verify (default: the target's host)\n"
    "  --target-ca FILE      CA(s) that really issue the targets' certificates\n"
    "                        (default: the system's roots); repeatable\n"
    "  --trust-ca FILE       CA(s) the agents trust besides, such as the proxy's interception\n"
    "                        CA; repeatable\n"
    "  --websocket-path P    also probe the WebSocket-over-HTTP/1.1 fallback at this path\n"
    "  --timeout D           deadline for the whole probe (default 10s)\n"
    "  --output text|json    report format (default text)\n"
    "Exit status: 0 all Supported, 1 worst is Warn, 2 any Unsupported, 64 usage error.\n";

probe::ProbeRequest parseProbeFlags(const std::vector<std::string>& args, bool& json) {
  using probe::InputError;
  probe::ProbeRequest request;
  std::vector<std::string> targets;
  std::string proxy, serverName, websocketPath, targetRoots;
  bool haveProxy = false;
  json = false;
  FlagReader flags(args);
  while (auto next = flags.next()) {
    const std::string& flag = *next;
    auto takeValue = [&] { return flags.value(); };
    if (flag == "--proxy") {
      proxy = takeValue();
      haveProxy = true;
    } else if (flag == "--target") {
      targets.push_back(takeValue());
    } else if (flag == "--server-name") {
      serverName = takeValue();
      if (serverName.empty()) throw InputError("--server-name must not be empty");
    } else if (flag == "--target-ca") {
      targetRoots += probe::loadCertificateFile(takeValue());
    } else if (flag == "--trust-ca") {
      request.trustPem += probe::loadCertificateFile(takeValue());
    } else if (flag == "--websocket-path") {
      websocketPath = takeValue();
      if (websocketPath.empty() || websocketPath.front() != '/' ||
          websocketPath.find_first_of(" \r\n") != std::string::npos) {
        throw InputError("--websocket-path \"" + websocketPath +
                         "\" must be a path starting with / and without spaces");
      }
    } else if (flag == "--timeout") {
      request.timeout = probe::parseDuration(takeValue());
    } else if (flag == "--output") {
      auto format = takeValue();
      if (format != "text" && format != "json") {
        throw InputError("--output must be text or json (got \"" + format + "\")");
      }
      json = format == "json";
    } else {
      throw InputError("unknown flag \"" + flag + "\"");
    }
  }
  if (!haveProxy) throw InputError("--proxy is required");
  if (targets.empty()) throw InputError("at least one --target is required");
  request.proxy = probe::parseProxyUrl(proxy);
  for (const auto& t : targets) {
    probe::ProbeTarget target;
    target.address = probe::parseTargetAddress(t);
    target.serverName = serverName;
    target.targetRootsPem = targetRoots;
    target.websocketPath = websocketPath;
    request.targets.push_back(std::move(target));
  }
  return request;
}

int runProbeCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                    bool processExitsAfter) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      out << kProbeUsage;
      return 0;
    }
  }
  bool json = false;
  probe::ProbeRequest request;
  try {
    request = parseProbeFlags(args, json);
  } catch (const probe::InputError& e) {
    err << "agentproxy probe: " << e.what() << "\n";
    return kExitUsage;
  }
  request.processExitsAfter = processExitsAfter;
  auto report = probe::runProbe(request);
  out << (json ? probe::toJson(report) + "\n" : probe::toText(report));
  return probe::exitCodeFor(report.classification);
}

}  // namespace agentproxy::cli
