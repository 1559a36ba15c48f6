#include "controller/references.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "encoding/encoding.h"
#include "probe/pem.h"

namespace agentproxy::controller {
namespace {

using policy::PemSource;

// The value of `key` in a Secret (base64 data) or ConfigMap (data, then binaryData).
std::optional<std::string> valueOf(const nlohmann::json& object, const std::string& key,
                                   bool secret) {
  auto data = object.find("data");
  if (data != object.end() && data->is_object()) {
    auto it = data->find(key);
    if (it != data->end() && it->is_string()) {
      return secret ? encoding::base64Decode(it->get<std::string>()) : it->get<std::string>();
    }
  }
  if (!secret) {
    auto binary = object.find("binaryData");
    if (binary != object.end() && binary->is_object()) {
      auto it = binary->find(key);
      if (it != binary->end() && it->is_string())
        return encoding::base64Decode(it->get<std::string>());
    }
  }
  return std::nullopt;
}

std::string readPem(const PemSource& source, ObjectReader& reader) {
  bool secret = source.kind == PemSource::Kind::Secret;
  auto object = secret ? reader.secret(source.namespace_, source.name)
                       : reader.configMap(source.namespace_, source.name);
  const std::string what =
      (secret ? "Secret " : "ConfigMap ") + source.namespace_ + "/" + source.name;
  if (!object) {
    throw ReferenceError(secret ? "SecretNotFound" : "ConfigMapNotFound",
                         what + " does not exist.");
  }
  std::optional<std::string> pem;
  try {
    pem = valueOf(*object, source.key, secret);
  } catch (const std::invalid_argument&) {
    throw ReferenceError("InvalidPEM", what + " key " + source.key + " is not valid base64.");
  }
  if (!pem) throw ReferenceError("KeyNotFound", what + " has no key " + source.key + ".");
  try {
    return probe::parseCertificateBundle(*pem, what + " key " + source.key);
  } catch (const probe::InputError& e) {
    throw ReferenceError("InvalidPEM", std::string(e.what()) + ".");
  }
}

std::string listed(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    out += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
  }
  return out;
}

}  // namespace

void checkSourceNamespaces(const policy::ProxyPolicy& policy,
                           const std::vector<std::string>& sourceNamespaces) {
  auto check = [&](const std::string& field, const std::string& kind, const std::string& ns,
                   const std::string& name) {
    if (std::find(sourceNamespaces.begin(), sourceNamespaces.end(), ns) != sourceNamespaces.end()) {
      return;
    }
    std::string where = sourceNamespaces.empty() ? std::string("no namespace")
                                                 : "namespace" +
                                                       std::string(sourceNamespaces.size() == 1
                                                                       ? " "
                                                                       : "s ") +
                                                       listed(sourceNamespaces);
    throw ReferenceError(
        "SourceNamespaceNotTrusted",
        field + " names " + kind + " " + ns + "/" + name +
            ", but the operator reads Secrets and ConfigMaps only in " + where +
            " (its own, and the chart's trustSources.namespaces). Move it there, or have the "
            "cluster administrator add " + ns + " to trustSources.namespaces.");
  };
  const auto& spec = policy.spec;
  if (spec.credentials) {
    check("spec.proxy.credentialsSecretRef", "Secret", spec.credentials->namespace_,
          spec.credentials->name);
  }
  auto source = [&](const std::string& field, const PemSource& s) {
    check(field, s.kind == PemSource::Kind::Secret ? "Secret" : "ConfigMap", s.namespace_,
          s.name);
  };
  for (size_t i = 0; i < spec.caBundles.size(); ++i) {
    source("spec.trust.caBundles[" + std::to_string(i) + "]", spec.caBundles[i]);
  }
  for (size_t i = 0; i < spec.targets.size(); ++i) {
    if (spec.targets[i].serverCA) {
      source("spec.targets[" + std::to_string(i) + "].serverCA", *spec.targets[i].serverCA);
    }
  }
}

ResolvedPolicy resolvePolicy(const policy::ProxyPolicy& policy, ObjectReader& reader) {
  const auto& spec = policy.spec;
  ResolvedPolicy resolved;
  auto& request = resolved.request;
  request.proxy = probe::parseProxyUrl(spec.httpsProxy);  // validated by parseProxyPolicy
  request.timeout = spec.probeTimeout;

  if (spec.credentials) {
    const auto& ref = *spec.credentials;
    const std::string what = "Secret " + ref.namespace_ + "/" + ref.name;
    auto secret = reader.secret(ref.namespace_, ref.name);
    if (!secret) {
      throw ReferenceError("SecretNotFound",
                           what + " (spec.proxy.credentialsSecretRef) does not exist.");
    }
    try {
      auto user = valueOf(*secret, "username", true);
      auto password = valueOf(*secret, "password", true);
      if (!user || user->empty() || !password) {
        throw ReferenceError("KeyNotFound", what + " needs the keys username and password.");
      }
      request.proxy.username = *user;
      request.proxy.password = *password;
    } catch (const std::invalid_argument&) {
      throw ReferenceError("InvalidCredentials", what + " holds values that are not base64.");
    }
  }

  for (const auto& source : spec.caBundles) {
    auto pem = readPem(source, reader);
    request.trustPem += pem;
    resolved.caSources.emplace_back(source.describe(), std::move(pem));
  }

  for (const auto& t : spec.targets) {
    probe::ProbeTarget target;
    target.address = probe::parseTargetAddress(t.address);  // validated by parseProxyPolicy
    target.serverName = t.serverName;
    target.websocketPath = t.websocketPath;
    if (t.serverCA) target.targetRootsPem = readPem(*t.serverCA, reader);
    request.targets.push_back(std::move(target));
  }

  std::string identity = request.proxy.withCredentials() + "\n" + request.trustPem + "\n" +
                         std::to_string(request.timeout.count());
  for (const auto& t : request.targets) {
    identity += "\n" + t.address.hostPort() + " " + t.serverName + " " + t.websocketPath + "\n" +
                t.targetRootsPem;
  }
  resolved.fingerprint = encoding::sha256Hex(identity);
  return resolved;
}

}  // namespace agentproxy::controller
