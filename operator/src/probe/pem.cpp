#include "probe/pem.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include "probe/proxy_url.h"

namespace agentproxy::probe {

namespace {

// Bundles already checked, by content: the controller checks the CA bundles a policy names on
// every reconcile, many policies share one, and OpenSSL 3 takes about a millisecond to decode
// a certificate. Failures are not remembered (their message names the source).
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

std::string checkCertificateBundle(const std::string& pem, const std::string& source);

}  // namespace

std::string parseCertificateBundle(const std::string& pem, const std::string& source) {
  if (auto known = checkedBundles().find(pem)) return *known;
  std::string result = checkCertificateBundle(pem, source);
  checkedBundles().add(pem, result);
  return result;
}

namespace {

std::string checkCertificateBundle(const std::string& pem, const std::string& source) {
  if (pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    throw InputError(source + ": no PEM certificate found (want -----BEGIN CERTIFICATE-----)");
  }
  BIO* in = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  BIO* out = BIO_new(BIO_s_mem());
  int count = 0;
  std::string error;
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    ERR_clear_error();
    if (PEM_read_bio(in, &name, &header, &data, &len) != 1) {
      unsigned long e = ERR_peek_last_error();
      if (ERR_GET_REASON(e) != PEM_R_NO_START_LINE) {
        error = "certificate " + std::to_string(count + 1) + " is not valid PEM";
      }
      break;
    }
    std::string kind(name);
    const unsigned char* p = data;
    X509* cert = kind == "CERTIFICATE" ? d2i_X509(nullptr, &p, len) : nullptr;
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    if (kind != "CERTIFICATE") continue;  // keys or parameters next to the CA are ignored
    if (!cert) {
      error = "certificate " + std::to_string(count + 1) + " does not parse as X.509";
      break;
    }
    PEM_write_bio_X509(out, cert);
    X509_free(cert);
    ++count;
  }
  ERR_clear_error();
  char* data = nullptr;
  long len = BIO_get_mem_data(out, &data);
  std::string result(data, static_cast<size_t>(len));
  BIO_free(in);
  BIO_free(out);
  if (!error.empty()) throw InputError(source + ": " + error);
  if (count == 0) throw InputError(source + ": no PEM certificate found");
  return result;
}

}  // namespace

std::string loadCertificateFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw InputError("cannot read CA file " + path + ": it is a directory");
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) throw InputError("cannot read CA file " + path);
  std::ostringstream text;
  text << file.rdbuf();
  return parseCertificateBundle(text.str(), "CA file " + path);
}

namespace {

std::string systemRootsFile() {
  const char* env = std::getenv(X509_get_default_cert_file_env());
  return env && *env ? env : X509_get_default_cert_file();
}

}  // namespace

const std::string& systemRootsPem() {
  static const std::string pem = [] {
    std::ifstream file(systemRootsFile(), std::ios::binary);
    std::ostringstream text;
    if (file) text << file.rdbuf();
    return text.str();
  }();
  return pem;
}

void useSystemRootsForGrpc() {
  setenv("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", systemRootsFile().c_str(), /*overwrite=*/0);
}

}  // namespace agentproxy::probe
