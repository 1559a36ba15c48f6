#include "probe/pem.h"

#include <openssl/x509.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include "encoding/files.h"
#include "probe/proxy_url.h"
#include "trust/ca_bundle.h"

namespace agentproxy::probe {

namespace {

// Bundles already checked, by content: the controller checks the CA bundles a policy names on
// every reconcile and many policies share one. Failures are not remembered (their message names
// the source).
class CheckedBundles {
 public:
  std::optional<std::string> find(const std::string& pem) {
    std::lock_guard lock(mutex_);
    auto it = checked_.find(pem);
    if (it == checked_.end()) return std::nullopt;
    return it->second;
  }
  void add(const std::string& pem, const std::string& result) {
    if (pem.size() > kMaxBundleBytes) return;
    std::lock_guard lock(mutex_);
    if (!checked_.emplace(pem, result).second) return;
    order_.push_back(pem);
    if (order_.size() > kMaxBundles) {
      checked_.erase(order_.front());
      order_.pop_front();
    }
  }

 private:
  static constexpr size_t kMaxBundles = 16;
  static constexpr size_t kMaxBundleBytes = 512 * 1024;
  std::mutex mutex_;
  std::map<std::string, std::string> checked_;
  std::deque<std::string> order_;  // oldest first
};

CheckedBundles& checkedBundles() {
  static CheckedBundles* bundles = new CheckedBundles();  // used until exit
  return *bundles;
}

}  // namespace

std::string parseCertificateBundle(const std::string& pem, const std::string& source) {
  if (auto known = checkedBundles().find(pem)) return *known;
  std::string result;
  try {
    result = trust::certificatesOf(pem, source);
  } catch (const trust::TrustError& e) {
    throw InputError(e.what());
  }
  checkedBundles().add(pem, result);
  return result;
}

std::string loadCertificateFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw InputError("cannot read CA file " + path + ": it is a directory");
  }
  auto text = encoding::readFile(path);
  if (!text) throw InputError("cannot read CA file " + path);
  return parseCertificateBundle(*text, "CA file " + path);
}

namespace {

std::string systemRootsFile() {
  const char* env = std::getenv(X509_get_default_cert_file_env());
  return env && *env ? env : X509_get_default_cert_file();
}

}  // namespace

const std::string& systemRootsPem() {
  static const std::string pem = encoding::readFile(systemRootsFile()).value_or("");
  return pem;
}

void useSystemRootsForGrpc() {
  setenv("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", systemRootsFile().c_str(), /*overwrite=*/0);
}

}  // namespace agentproxy::probe
