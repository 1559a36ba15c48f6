// Entry point: dispatches to the subcommands. The only code no test links.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

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
  if (command == "run" || command == "probe") {
    // Probes must test the declared proxy, not the environment of whoever runs them: gRPC
    // C-core would otherwise skip the proxy for hosts in no_proxy, or use grpc_proxy. Done
    // before any thread starts.
    for (const char* name : {"no_grpc_proxy", "no_proxy", "NO_PROXY", "grpc_proxy",
                             "https_proxy", "http_proxy"}) {
      unsetenv(name);
    }
    agentproxy::probe::useSystemRootsForGrpc();
    return command == "run" ? agentproxy::cli::runOperator(args)
                            : agentproxy::cli::runProbeCommand(args, std::cout, std::cerr);
  }
  std::cerr << "agentproxy: unknown command \"" << command << "\"\n" << kUsage;
  return agentproxy::cli::kExitUsage;
}
