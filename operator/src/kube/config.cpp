#include "kube/config.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "encoding/encoding.h"
#include "encoding/files.h"
#include "kube/errors.h"
#include "trust/openssl_handles.h"

namespace agentproxy::kube {
namespace {

std::string quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// A kubeconfig's base64 value (padded, as client-go requires); line breaks and spaces, which
// wrapped YAML can leave in it, are ignored.
std::optional<std::string> base64Decode(std::string_view text) {
  std::string compact;
  compact.reserve(text.size());
  for (char c : text) {
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') compact += c;
  }
  try {
    return encoding::base64Decode(compact);
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
}

int countPemCertificates(const std::string& pem) {
  trust::detail::BioPtr bio = trust::detail::readBio(pem);
  int count = 0;
  while (trust::detail::X509Ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    ++count;
  }
  ERR_clear_error();
  return count;
}

bool hasPemPrivateKey(const std::string& pem) {
  trust::detail::BioPtr bio = trust::detail::readBio(pem);
  trust::detail::KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  ERR_clear_error();
  return key != nullptr;
}

class KubeconfigParser {
 public:
  KubeconfigParser(const std::filesystem::path& path) : path_(path) {}

  Config parse(std::string_view text, std::optional<std::string> contextName) {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::Exception& e) {
      fail("not valid YAML: " + std::string(e.what()));
    }
    if (!root.IsMap()) fail("not a kubeconfig (the top level is not a map)");

    if (!contextName) {
      contextName = scalar(root, "current-context", "");
      if (contextName->empty()) fail("no current-context is set and no context was asked for");
    }
    YAML::Node context = findNamed(root, "contexts", *contextName, "context");
    if (!context) fail("context " + quote(*contextName) + " is not defined");
    std::string where = "context " + quote(*contextName);
    std::string clusterName = scalar(context, "cluster", where);
    if (clusterName.empty()) fail(where + " names no cluster");
    std::string userName = scalar(context, "user", where);

    Config config;
    config.source = "kubeconfig " + path_.string() + ", context " + *contextName;
    if (std::string ns = scalar(context, "namespace", where); !ns.empty()) {
      config.defaultNamespace = ns;
    }

    YAML::Node cluster = findNamed(root, "clusters", clusterName, "cluster");
    if (!cluster) {
      fail(where + " names cluster " + quote(clusterName) + ", which is not defined");
    }
    readCluster(cluster, "cluster " + quote(clusterName), config);

    if (!userName.empty()) {
      YAML::Node user = findNamed(root, "users", userName, "user");
      if (!user) fail(where + " names user " + quote(userName) + ", which is not defined");
      readUser(user, "user " + quote(userName), config);
    }
    return config;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw ConfigError("kubeconfig " + path_.string() + ": " + what);
  }

  // A string field of a map; "" when absent; fails when it is not a scalar.
  std::string scalar(const YAML::Node& map, const std::string& key, const std::string& where) {
    YAML::Node node = map[key];
    if (!node || node.IsNull()) return "";
    if (!node.IsScalar()) fail((where.empty() ? "" : where + ": ") + key + " is not a string");
    return node.as<std::string>();
  }

  // The `section` entry (a list of {name, <kind>: {...}}) whose name is `name`, returning
  // its <kind> map (an empty map node when the entry has none).
  YAML::Node findNamed(const YAML::Node& root, const std::string& section, const std::string& name,
                       const std::string& kind) {
    YAML::Node list = root[section];
    if (!list || list.IsNull()) return YAML::Node(YAML::NodeType::Undefined);
    if (!list.IsSequence()) fail(section + " is not a list");
    for (size_t i = 0; i < list.size(); ++i) {
      YAML::Node entry = list[i];
      std::string where = section + "[" + std::to_string(i) + "]";
      if (!entry.IsMap()) fail(where + " is not a map");
      std::string entryName = scalar(entry, "name", where);
      if (entryName.empty()) fail(where + " has no name");
      if (entryName != name) continue;
      YAML::Node body = entry[kind];
      if (!body || body.IsNull()) return YAML::Node(YAML::NodeType::Map);
      if (!body.IsMap()) {
        std::string what = kind;
        what.append(" ").append(quote(name)).append(": ").append(kind).append(" is not a map");
        fail(what);
      }
      return body;
    }
    return YAML::Node(YAML::NodeType::Undefined);
  }

  std::filesystem::path resolve(const std::string& file) const {
    std::filesystem::path p(file);
    if (p.is_relative()) p = path_.parent_path() / p;
    return p;
  }

  // PEM text from `<key>-data` (base64) or `<key>` (a file); "" when neither is set.
  std::string pemField(const YAML::Node& map, const std::string& key, const std::string& where) {
    std::string data = scalar(map, key + "-data", where);
    if (!data.empty()) {
      auto decoded = base64Decode(data);
      if (!decoded) fail(where + ": " + key + "-data is not valid base64");
      return *decoded;
    }
    std::string file = scalar(map, key, where);
    if (file.empty()) return "";
    std::string why;
    auto text = encoding::readFile(resolve(file), &why);
    if (!text) fail(where + ": " + key + " " + resolve(file).string() + ": cannot read: " + why);
    return *text;
  }

  void readCluster(const YAML::Node& cluster, const std::string& where, Config& config) {
    config.server = scalar(cluster, "server", where);
    if (config.server.empty()) fail(where + " has no server");
    if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0) {
      fail(where + ": server " + quote(config.server) + " is not an http(s):// URL");
    }
    while (config.server.size() > 8 && config.server.back() == '/') config.server.pop_back();
    std::string skip = scalar(cluster, "insecure-skip-tls-verify", where);
    if (!skip.empty() && skip != "true" && skip != "false") {
      fail(where + ": insecure-skip-tls-verify is " + quote(skip) + ", want true or false");
    }
    config.insecureSkipTlsVerify = skip == "true";
    config.caPem = pemField(cluster, "certificate-authority", where);
    if (!config.caPem.empty() && countPemCertificates(config.caPem) == 0) {
      fail(where + ": certificate-authority holds no PEM certificate");
    }
  }

  void readUser(const YAML::Node& user, const std::string& where, Config& config) {
    if (user["exec"] && !user["exec"].IsNull()) {
      fail(where + " uses an exec credential plugin, which is not supported");
    }
    if (user["auth-provider"] && !user["auth-provider"].IsNull()) {
      fail(where + " uses an auth-provider plugin, which is not supported");
    }
    if (user["username"] && !user["username"].IsNull()) {
      fail(where + " uses basic authentication (username/password), which is not supported");
    }
    config.bearerToken = scalar(user, "token", where);
    if (std::string file = scalar(user, "tokenFile", where); !file.empty()) {
      config.tokenFile = resolve(file);
      std::string why;
      if (!encoding::readFile(config.tokenFile, &why)) {
        fail(where + ": tokenFile " + config.tokenFile.string() + ": cannot read: " + why);
      }
    }
    config.clientCertPem = pemField(user, "client-certificate", where);
    config.clientKeyPem = pemField(user, "client-key", where);
    if (!config.clientCertPem.empty() && config.clientKeyPem.empty()) {
      fail(where + ": client-certificate is set but client-key is not");
    }
    if (config.clientCertPem.empty() && !config.clientKeyPem.empty()) {
      fail(where + ": client-key is set but client-certificate is not");
    }
    if (!config.clientCertPem.empty() && countPemCertificates(config.clientCertPem) == 0) {
      fail(where + ": client-certificate holds no PEM certificate");
    }
    if (!config.clientKeyPem.empty() && !hasPemPrivateKey(config.clientKeyPem)) {
      fail(where + ": client-key holds no PEM private key");
    }
  }

  std::filesystem::path path_;
};

std::optional<std::string> systemGetenv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

}  // namespace

Config parseKubeconfig(std::string_view yamlText, const std::filesystem::path& path,
                       std::optional<std::string> context) {
  return KubeconfigParser(path).parse(yamlText, std::move(context));
}

Config loadKubeconfig(const std::filesystem::path& path, std::optional<std::string> context) {
  std::string why;
  auto text = encoding::readFile(path, &why);
  if (!text) throw ConfigError("kubeconfig " + path.string() + ": cannot read: " + why);
  return parseKubeconfig(*text, path, std::move(context));
}

Config inClusterConfig(const InClusterSource& source) {
  auto getenv = source.getenv ? source.getenv : systemGetenv;
  auto host = getenv("KUBERNETES_SERVICE_HOST");
  auto port = getenv("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty()) {
    throw ConfigError("in-cluster config: KUBERNETES_SERVICE_HOST is not set (not in a pod?)");
  }
  if (!port || port->empty()) {
    throw ConfigError("in-cluster config: KUBERNETES_SERVICE_PORT is not set");
  }
  if (port->find_first_not_of("0123456789") != std::string::npos) {
    throw ConfigError("in-cluster config: KUBERNETES_SERVICE_PORT is \"" + *port +
                      "\", not a port number");
  }
  Config config;
  config.source = "in-cluster";
  bool ipv6 = host->find(':') != std::string::npos;
  config.server = "https://" + (ipv6 ? "[" + *host + "]" : *host) + ":" + *port;

  std::string why;
  if (!encoding::readFile(source.tokenFile, &why)) {
    throw ConfigError("in-cluster config: token " + source.tokenFile.string() +
                      ": cannot read: " + why);
  }
  config.tokenFile = source.tokenFile;
  auto ca = encoding::readFile(source.caFile, &why);
  if (!ca) {
    throw ConfigError("in-cluster config: CA " + source.caFile.string() + ": cannot read: " + why);
  }
  if (countPemCertificates(*ca) == 0) {
    throw ConfigError("in-cluster config: CA " + source.caFile.string() +
                      " holds no PEM certificate");
  }
  config.caPem = std::move(*ca);
  if (auto ns = encoding::readFile(source.namespaceFile, &why)) {
    while (!ns->empty() && (ns->back() == '\n' || ns->back() == ' ')) ns->pop_back();
    if (!ns->empty()) config.defaultNamespace = *ns;
  }
  return config;
}

bool runningInCluster() {
  auto host = systemGetenv("KUBERNETES_SERVICE_HOST");
  return host && !host->empty();
}

Config defaultConfig(const std::optional<std::filesystem::path>& explicitKubeconfig) {
  if (explicitKubeconfig && !explicitKubeconfig->empty())
    return loadKubeconfig(*explicitKubeconfig);
  if (auto env = systemGetenv("KUBECONFIG"); env && !env->empty()) {
    std::string first = env->substr(0, env->find(':'));
    return loadKubeconfig(first);
  }
  if (runningInCluster()) return inClusterConfig();
  auto home = systemGetenv("HOME");
  if (!home) throw ConfigError("no kubeconfig: KUBECONFIG and HOME are unset and not in a pod");
  return loadKubeconfig(std::filesystem::path(*home) / ".kube" / "config");
}

}  // namespace agentproxy::kube
