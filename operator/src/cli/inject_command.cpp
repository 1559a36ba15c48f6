#include "cli/inject_command.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "cli/flags.h"
#include "cli/probe_command.h"
#include "encoding/encoding.h"
#include "encoding/files.h"
#include "injection/pod_injection.h"
#include "policy/no_proxy.h"
#include "policy/proxy_policy.h"
#include "probe/proxy_url.h"
#include "trust/ca_bundle.h"
#include "trust/truststore.h"

namespace agentproxy::cli {

const char kInjectUsage[] =
    "usage: agentproxy inject --policy FILE --pod FILE [--trust-ca FILE]... [--system-cas FILE]\n"
    "                         [--credentials SECRET.json --secret-dir DIR] [--ca-dir DIR]\n"
    "                         [--api-server-host H] [--service-cidr C]... [--pod-cidr C]...\n"
    "                         [--output pod|patch]\n"
    "\n"
    "Prints the pod as the webhook's mutation by the policy leaves it (no cluster needed).\n"
    "  --policy FILE         a ProxyPolicy (JSON)\n"
    "  --pod FILE            a Pod (JSON), as a user creates it\n"
    "  --trust-ca FILE       the PEM of each of the policy's trust.caBundles, in order\n"
    "  --system-cas FILE     the system CAs (default /etc/ssl/certs/ca-certificates.crt)\n"
    "  --credentials FILE    the Secret (JSON, stringData or data) with username and password\n"
    "  --secret-dir DIR      write the credentials copy's keys there\n"
    "  --ca-dir DIR          write the CA ConfigMap copy's keys there\n"
    "  --api-server-host H, --service-cidr C, --pod-cidr C   the cluster, for NO_PROXY\n"
    "  --output pod|patch    the stored pod (default) or the JSON Patch\n";

namespace {

using probe::InputError;

// The file a flag names, or InputError naming the flag.
std::string readFile(const std::string& path, const char* flag) {
  auto text = encoding::readFile(path);
  if (!text) throw InputError(std::string(flag) + " " + path + ": cannot be read");
  return std::move(*text);
}

nlohmann::json readJson(const std::string& path, const char* flag) {
  try {
    return nlohmann::json::parse(readFile(path, flag));
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(std::string(flag) + " " + path + " is not JSON: " + e.what());
  }
}

void writeFile(const std::filesystem::path& dir, const std::string& name,
               const std::string& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out) throw InputError("cannot write " + (dir / name).string());
}

// username and password of a Secret given as JSON (stringData, or base64 data).
std::pair<std::string, std::string> credentialsOf(const nlohmann::json& secret) {
  auto key = [&](const char* name) -> std::string {
    if (auto s = secret.find("stringData"); s != secret.end() && s->contains(name)) {
      return (*s)[name].get<std::string>();
    }
    if (auto d = secret.find("data"); d != secret.end() && d->contains(name)) {
      return encoding::base64Decode((*d)[name].get<std::string>());
    }
    throw InputError(std::string("--credentials: the Secret has no key ") + name);
  };
  return {key("username"), key("password")};
}

}  // namespace

int runInjectCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      out << kInjectUsage;
      return 0;
    }
  }
  try {
    std::string policyFile, podFile, credentialsFile, secretDir, caDir, output = "pod";
    std::string systemCas = "/etc/ssl/certs/ca-certificates.crt";
    std::vector<std::string> trustFiles;
    policy::ClusterNetwork cluster;
    FlagReader flags(args);
    while (auto next = flags.next()) {
      const std::string& flag = *next;
      if (flag == "--policy") {
        policyFile = flags.value();
      } else if (flag == "--pod") {
        podFile = flags.value();
      } else if (flag == "--trust-ca") {
        trustFiles.push_back(flags.value());
      } else if (flag == "--system-cas") {
        systemCas = flags.value();
      } else if (flag == "--credentials") {
        credentialsFile = flags.value();
      } else if (flag == "--secret-dir") {
        secretDir = flags.value();
      } else if (flag == "--ca-dir") {
        caDir = flags.value();
      } else if (flag == "--api-server-host") {
        cluster.apiServerHost = flags.value();
      } else if (flag == "--service-cidr") {
        cluster.serviceCIDRs.push_back(flags.value());
      } else if (flag == "--pod-cidr") {
        cluster.podCIDRs.push_back(flags.value());
      } else if (flag == "--output") {
        output = flags.value();
        if (output != "pod" && output != "patch") {
          throw InputError("--output must be pod or patch (got \"" + output + "\")");
        }
      } else {
        throw InputError("unknown flag \"" + flag + "\"");
      }
    }
    if (policyFile.empty()) throw InputError("--policy is required");
    if (podFile.empty()) throw InputError("--pod is required");
    policy::ProxyPolicy policy;
    try {
      policy = policy::parseProxyPolicy(readJson(policyFile, "--policy"));
    } catch (const policy::SpecError& e) {
      throw InputError(std::string("--policy: ") + e.what());
    }
    if (trustFiles.size() != policy.spec.caBundles.size()) {
      throw InputError("the policy lists " + std::to_string(policy.spec.caBundles.size()) +
                       " trust.caBundles but " + std::to_string(trustFiles.size()) +
                       " --trust-ca files were given");
    }
    auto pod = readJson(podFile, "--pod");

    std::vector<trust::CaSource> sources;
    for (size_t i = 0; i < trustFiles.size(); ++i) {
      sources.push_back({policy.spec.caBundles[i].describe(), readFile(trustFiles[i], "--trust-ca")});
    }
    std::string bundleHash;
    if (injection::hasCaBundle(policy)) {
      auto bundle = trust::mergeCaBundle(
          policy.spec.includeSystemCAs ? readFile(systemCas, "--system-cas") : "", sources,
          std::chrono::system_clock::now());
      bundleHash = bundle.hash;
      if (!caDir.empty()) {
        writeFile(caDir, std::string(injection::kCaBundleKey), bundle.pem);
        if (bundle.certificates > 0) {
          writeFile(caDir, std::string(injection::kTruststoreKey),
                    trust::pkcs12Truststore(bundle.pem));
        }
      }
    }
    if (policy.spec.credentials) {
      if (credentialsFile.empty()) {
        throw InputError("the policy has credentialsSecretRef: give the Secret with --credentials");
      }
      auto [user, password] = credentialsOf(readJson(credentialsFile, "--credentials"));
      if (!secretDir.empty()) {
        writeFile(secretDir, "username", encoding::percentEncode(user));
        writeFile(secretDir, "password", encoding::percentEncode(password));
      }
    }
    auto injection = injection::injectionForPolicy(policy, cluster, bundleHash);
    auto patch = injection::podPatch(pod, injection);
    if (output == "patch") {
      out << patch.dump(2) << "\n";
    } else {
      out << pod.patch(patch).dump(2) << "\n";
    }
    return 0;
  } catch (const InputError& e) {
    err << "agentproxy inject: " << e.what() << "\n";
  } catch (const std::exception& e) {
    err << "agentproxy inject: " << e.what() << "\n";
  }
  return kExitUsage;
}

}  // namespace agentproxy::cli
