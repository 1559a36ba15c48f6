// Entry point: dispatches to the subcommands. The only code no test links.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cli/inject_command.h"
#include "cli/probe_command.h"
#include "cli/run_command.h"
#include "probe/pem.h"

namespace {

constexpr char kUsage[] =
    "usage: agentproxy <command> [flags]\n"
    "\n"
    "commands:\n"
    "  run       run the operator (the ProxyPolicy controller) against a cluster\n"
    "  probe     diagnose gRPC through an HTTP proxy from here, with no cluster\n"
    "  version   print the version\n"
    "\n"
    "Run 'agentproxy <command> --help' for a command's flags.\n";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? agentproxy::cli::kExitUsage : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "version") {
    std::cout << "agentproxy " << AGENTPROXY_VERSION << "\n";
    return 0;
  }
  // Hidden: the webhook's mutation without a cluster (tests/agents; cli/inject_command.h).
  if (command == "inject") return agentproxy::cli::runInjectCommand(args, std::cout, std::cerr);
  if (command == "run" || command == "probe") {
    // Probes must test the declared proxy, not the environment of whoever runs them: gRPC
    // C-core would otherwise skip the proxy for hosts in no_proxy, or use grpc_proxy. Done
    // before any thread starts.
    for (const char* name : {"no_grpc_proxy", "no_proxy", "NO_PROXY", "grpc_proxy",
                             "https_proxy", "http_proxy"}) {
      unsetenv(name);
    }
    agentproxy::probe::useSystemRootsForGrpc();
    if (command == "run") return agentproxy::cli::runOperator(args);
    // The report is out once the streams are flushed. What is left are gRPC channels still
    // closing in the background and gRPC's own threads; _Exit ends them with the process
    // instead of running static destructors under them.
    int code = agentproxy::cli::runProbeCommand(args, std::cout, std::cerr,
                                                /*processExitsAfter=*/true);
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    std::_Exit(code);
  }
  std::cerr << "agentproxy: unknown command \"" << command << "\"\n" << kUsage;
  return agentproxy::cli::kExitUsage;
}
