// Resolving what a ProxyPolicy refers to (the credentials Secret, CA bundles, server CAs) into
// a probe request, with the errors a person can act on. Reads go through ObjectReader, which
// production implements over the Kubernetes client and tests over maps.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "policy/proxy_policy.h"
#include "probe/prober.h"

namespace agentproxy::controller {

class ObjectReader {
 public:
  virtual ~ObjectReader() = default;
  // The object, or nullopt when it does not exist. Other failures throw (reconcile retries).
  virtual std::optional<nlohmann::json> secret(const std::string& ns, const std::string& name) = 0;
  virtual std::optional<nlohmann::json> configMap(const std::string& ns,
                                                  const std::string& name) = 0;
};

// A referenced object that is missing or unusable: a SpecValid=False condition, not a retry
// storm. reason(): SecretNotFound, ConfigMapNotFound, KeyNotFound, InvalidPEM,
// InvalidCredentials, SourceNamespaceNotTrusted. The message never contains a secret's value.
class ReferenceError : public std::runtime_error {
 public:
  ReferenceError(std::string reason, const std::string& message)
      : std::runtime_error(message), reason_(std::move(reason)) {}
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

struct ResolvedPolicy {
  probe::ProbeRequest request;
  // The certificates of each trust.caBundles entry: {where from, PEM}.
  std::vector<std::pair<std::string, std::string>> caSources;
  // sha256 over everything the probe depends on (credentials included, so it is never shown):
  // when it changes, the last probe no longer describes the policy.
  std::string fingerprint;
};

// Throws ReferenceError.
ResolvedPolicy resolvePolicy(const policy::ProxyPolicy& policy, ObjectReader& reader);

// Whoever may write a ProxyPolicy must not make the operator copy a Secret it can read into a
// namespace they choose (a confused deputy): every referenced Secret and ConfigMap must live in
// one of `sourceNamespaces` (the operator's own, then the chart's trustSources.namespaces).
// Throws ReferenceError SourceNamespaceNotTrusted naming the first that does not, before
// anything is read.
void checkSourceNamespaces(const policy::ProxyPolicy& policy,
                           const std::vector<std::string>& sourceNamespaces);

}  // namespace agentproxy::controller
