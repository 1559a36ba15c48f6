#include "cli/probe_command.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>

#include "cli/flags.h"
#include "encoding/files.h"
#include "policy/no_proxy.h"
#include "probe/duration.h"
#include "probe/pem.h"

namespace agentproxy::cli {

const char kProbeUsage[] =
    "usage: agentproxy probe [--proxy URL] --target HOST:PORT [--target ...] [--server-name N]\n"
    "                        [--proxy-credentials-file FILE] [--target-ca FILE]...\n"
    "                        [--trust-ca FILE]... [--websocket-path P]\n"
    "                        [--runtime R]... [--no-proxy LIST]\n"
    "                        [--timeout 10s] [--output text|json]\n"
    "\n"
    "Proves with a real gRPC call whether gRPC reaches each target through the proxy.\n"
    "  --proxy URL           http://[user:password@]host:port or https://...\n"
    "                        (default: $HTTPS_PROXY, then $https_proxy)\n"
    "  --proxy-credentials-file FILE\n"
    "                        username=... and password=... lines, or a directory with files\n"
    "                        username and password (a mounted Secret); keeps the password\n"
    "                        out of ps and shell history\n"
    "  --target HOST:PORT    a gRPC endpoint; repeat for several (required)\n"
    "  --server-name N       TLS server name to send and verify (default: the target's host)\n"
    "  --target-ca FILE      CA(s) that really issue the targets' certificates\n"
    "                        (default: the system's roots); repeatable\n"
    "  --trust-ca FILE       CA(s) the agents trust besides, such as the proxy's interception\n"
    "                        CA; repeatable\n"
    "  --websocket-path P    also probe the WebSocket-over-HTTP/1.1 fallback at this path\n"
    "  --runtime R           judge agents of runtime R too: grpc-core, go, jvm, node, dotnet;\n"
    "                        repeatable; their verdicts count in the classification\n"
    "  --no-proxy LIST       the agents' NO_PROXY (comma-separated), for the verdicts\n"
    "  --timeout D           deadline for the whole probe (default 10s)\n"
    "  --output text|json    report format (default text)\n"
    "Exit status: 0 all Supported, 1 worst is Warn, 2 any Unsupported, 64 usage error.\n";

namespace {

std::string withoutTrailingNewlines(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

}  // namespace

void readProxyCredentials(const std::string& path, std::string& username, std::string& password) {
  using probe::InputError;
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    auto user = encoding::readFile(fs::path(path) / "username");
    auto pass = encoding::readFile(fs::path(path) / "password");
    if (!user || !pass) {
      throw InputError("--proxy-credentials-file " + path +
                       " is a directory without the files username and password");
    }
    username = withoutTrailingNewlines(*user);
    password = withoutTrailingNewlines(*pass);
  } else {
    auto text = encoding::readFile(path);
    if (!text) throw InputError("cannot read --proxy-credentials-file " + path);
    std::istringstream lines(*text);
    std::string line;
    bool haveUser = false, havePass = false;
    for (int number = 1; std::getline(lines, line); ++number) {
      line = withoutTrailingNewlines(line);
      if (line.empty() || line.front() == '#') continue;
      auto eq = line.find('=');
      std::string key = line.substr(0, eq);
      if (eq != std::string::npos && key == "username") {
        username = line.substr(eq + 1);
        haveUser = true;
      } else if (eq != std::string::npos && key == "password") {
        password = line.substr(eq + 1);
        havePass = true;
      } else {
        // The line is not quoted: it may be the password itself.
        throw InputError("--proxy-credentials-file " + path + ": line " +
                         std::to_string(number) +
                         " is not username=... or password=...");
      }
    }
    if (!haveUser || !havePass) {
      throw InputError("--proxy-credentials-file " + path + " needs a username= and a "
                       "password= line");
    }
  }
  if (username.empty()) throw InputError("--proxy-credentials-file " + path + ": empty username");
  if (username.find(':') != std::string::npos) {
    throw InputError("--proxy-credentials-file " + path +
                     ": the username contains ':', which Basic authentication cannot carry");
  }
}

probe::ProbeRequest parseProbeFlags(const std::vector<std::string>& args, bool& json,
                                    const ProbeEnvironment& environment,
                                    std::vector<std::string>* notices,
                                    probe::RuntimeContext* runtimes) {
  probe::RuntimeContext ignored;
  probe::RuntimeContext& context = runtimes ? *runtimes : ignored;
  using probe::InputError;
  probe::ProbeRequest request;
  std::vector<std::string> targets;
  std::string proxy, serverName, websocketPath, targetRoots, credentialsFile;
  bool haveProxy = false;
  json = false;
  FlagReader flags(args);
  while (auto next = flags.next()) {
    const std::string& flag = *next;
    auto takeValue = [&] { return flags.value(); };
    if (flag == "--proxy") {
      proxy = takeValue();
      haveProxy = true;
    } else if (flag == "--proxy-credentials-file") {
      credentialsFile = takeValue();
      if (credentialsFile.empty()) throw InputError("--proxy-credentials-file must not be empty");
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
    } else if (flag == "--runtime") {
      auto runtime = takeValue();
      bool known = false;
      for (const char* r : probe::kAllRuntimes) known = known || runtime == r;
      if (!known) {
        throw InputError("--runtime must be one of grpc-core, go, jvm, node, dotnet (got \"" +
                         runtime + "\")");
      }
      bool seen = false;
      for (const auto& r : context.runtimes) seen = seen || r == runtime;
      if (!seen) context.runtimes.push_back(runtime);
      context.counted = true;
    } else if (flag == "--no-proxy") {
      auto list = takeValue();
      size_t start = 0;
      while (start <= list.size()) {
        auto comma = list.find(',', start);
        auto entry = policy::normalizeNoProxyEntry(
            list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (!entry.empty()) context.noProxy.push_back(entry);
        if (comma == std::string::npos) break;
        start = comma + 1;
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
  auto getenv = [&](const std::string& name) -> std::optional<std::string> {
    if (environment.getenv) return environment.getenv(name);
    const char* value = std::getenv(name.c_str());
    return value ? std::optional<std::string>(value) : std::nullopt;
  };
  std::string proxySource = "--proxy";
  if (!haveProxy) {
    for (const char* name : {"HTTPS_PROXY", "https_proxy"}) {
      if (auto value = getenv(name); value && !value->empty()) {
        proxy = *value;
        proxySource = std::string("$") + name;
        haveProxy = true;
        break;
      }
    }
  }
  if (!haveProxy) throw InputError("--proxy is required (or set HTTPS_PROXY)");
  if (targets.empty()) throw InputError("at least one --target is required");
  try {
    request.proxy = probe::parseProxyUrl(proxy);
  } catch (const InputError& e) {
    throw InputError(proxySource == "--proxy" ? e.what() : proxySource + ": " + e.what());
  }
  if (!credentialsFile.empty()) {
    if (request.proxy.hasCredentials()) {
      throw InputError("credentials are given twice: in " + proxySource +
                       " and in --proxy-credentials-file; keep one");
    }
    readProxyCredentials(credentialsFile, request.proxy.username, request.proxy.password);
  } else if (proxySource == "--proxy" && !request.proxy.password.empty() && notices) {
    notices->push_back(
        "the proxy password on the command line is visible to other users (ps) and in shell "
        "history: give it in HTTPS_PROXY or with --proxy-credentials-file instead");
  }
  context.httpsProxy = context.grpcProxyHttps = request.proxy.tls();
  context.credentials = request.proxy.hasCredentials();
  context.credentialsWithAtSign = request.proxy.username.find('@') != std::string::npos ||
                                  request.proxy.password.find('@') != std::string::npos;
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
  std::vector<std::string> notices;
  probe::RuntimeContext runtimes;
  try {
    request = parseProbeFlags(args, json, {}, &notices, &runtimes);
  } catch (const probe::InputError& e) {
    err << "agentproxy probe: " << e.what() << "\n";
    return kExitUsage;
  }
  for (const auto& notice : notices) err << "agentproxy probe: note: " << notice << "\n";
  request.processExitsAfter = processExitsAfter;
  auto report = probe::runProbe(request);
  if (!runtimes.runtimes.empty() || !runtimes.noProxy.empty()) {
    probe::applyRuntimeVerdicts(report, runtimes);
  }
  out << (json ? probe::toJson(report) + "\n" : probe::toText(report));
  return probe::exitCodeFor(report.classification);
}

}  // namespace agentproxy::cli
