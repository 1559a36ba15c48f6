// The webhook's HTTPS server against a real TLS client (OpenSSL, blocking sockets) on 127.0.0.1.
#include "webhook/admission_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace agentproxy::webhook {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

// ---- certificates, made in-process ----

struct Credentials {
  std::string certPem;
  std::string keyPem;
};

std::string openSslError() {
  std::array<char, 256> text{};
  unsigned long last = 0;
  while (unsigned long code = ERR_get_error()) last = code;
  if (last == 0) return "no OpenSSL error";
  ERR_error_string_n(last, text.data(), text.size());
  return text.data();
}

std::string bioText(BIO* bio) {
  char* data = nullptr;
  long length = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(length));
}

// An EC P-256 certificate for 127.0.0.1 and localhost with the given CN, self-signed or signed
// by `issuer`; a CA when `ca`.
Credentials makeCertificate(const std::string& commonName, const Credentials* issuer = nullptr,
                            bool ca = false) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!key || !cert) throw std::runtime_error("certificate: " + openSslError());
  X509_set_version(cert.get(), 2);
  static std::atomic<long> serial{1};
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 86400);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(commonName.c_str()), -1, -1, 0);

  std::unique_ptr<X509, decltype(&X509_free)> issuerCert(nullptr, X509_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> issuerKey(nullptr, EVP_PKEY_free);
  if (issuer != nullptr) {
    std::unique_ptr<BIO, decltype(&BIO_free)> certBio(
        BIO_new_mem_buf(issuer->certPem.data(), static_cast<int>(issuer->certPem.size())),
        BIO_free);
    std::unique_ptr<BIO, decltype(&BIO_free)> keyBio(
        BIO_new_mem_buf(issuer->keyPem.data(), static_cast<int>(issuer->keyPem.size())), BIO_free);
    issuerCert.reset(PEM_read_bio_X509(certBio.get(), nullptr, nullptr, nullptr));
    issuerKey.reset(PEM_read_bio_PrivateKey(keyBio.get(), nullptr, nullptr, nullptr));
    if (!issuerCert || !issuerKey) throw std::runtime_error("issuer: " + openSslError());
  }
  X509* signerCert = issuerCert ? issuerCert.get() : cert.get();
  EVP_PKEY* signerKey = issuerKey ? issuerKey.get() : key.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signerCert));

  X509V3_CTX context;
  X509V3_set_ctx_nodb(&context);
  X509V3_set_ctx(&context, signerCert, cert.get(), nullptr, nullptr, 0);
  std::vector<std::pair<int, std::string>> extensions = {
      {NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE"}};
  if (ca) {
    extensions.emplace_back(NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    extensions.emplace_back(NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
    extensions.emplace_back(NID_ext_key_usage, "serverAuth");
  }
  for (const auto& [nid, value] : extensions) {
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
    if (extension == nullptr) throw std::runtime_error("extension: " + openSslError());
    X509_add_ext(cert.get(), extension, -1);
    X509_EXTENSION_free(extension);
  }
  if (X509_sign(cert.get(), signerKey, EVP_sha256()) == 0) {
    throw std::runtime_error("signing: " + openSslError());
  }

  std::unique_ptr<BIO, decltype(&BIO_free)> certOut(BIO_new(BIO_s_mem()), BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> keyOut(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_X509(certOut.get(), cert.get());
  PEM_write_bio_PrivateKey(keyOut.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return {bioText(certOut.get()), bioText(keyOut.get())};
}

// ---- a blocking TLS client ----

struct HttpAnswer {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

struct ClientOptions {
  int minVersion = TLS1_2_VERSION;
  int maxVersion = 0;        // 0: the highest
  bool lowSecurity = false;  // allow what Debian's defaults forbid (TLS 1.0/1.1, SHA-1)
  std::string trustedCaPem;  // empty: no verification
};

class TlsClient {
 public:
  // Connects and completes the handshake; throws std::runtime_error with OpenSSL's reason.
  explicit TlsClient(uint16_t port, const ClientOptions& options = {}) {
    fd_ = connectTcp(port);
    context_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(context_, options.minVersion);
    if (options.maxVersion != 0) SSL_CTX_set_max_proto_version(context_, options.maxVersion);
    if (options.lowSecurity) {
      SSL_CTX_set_security_level(context_, 0);
      SSL_CTX_set_cipher_list(context_, "DEFAULT:@SECLEVEL=0");
    }
    static const unsigned char kAlpn[] = "\x02h2\x08http/1.1";
    SSL_CTX_set_alpn_protos(context_, kAlpn, sizeof(kAlpn) - 1);
    if (!options.trustedCaPem.empty()) {
      std::unique_ptr<BIO, decltype(&BIO_free)> bio(
          BIO_new_mem_buf(options.trustedCaPem.data(),
                          static_cast<int>(options.trustedCaPem.size())),
          BIO_free);
      X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
      X509_STORE_add_cert(SSL_CTX_get_cert_store(context_), ca);
      X509_free(ca);
      SSL_CTX_set_verify(context_, SSL_VERIFY_PEER, nullptr);
    }
    ssl_ = SSL_new(context_);
    if (!options.trustedCaPem.empty())
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), "127.0.0.1");
    SSL_set_fd(ssl_, fd_);
    if (SSL_connect(ssl_) != 1) {
      std::string reason = openSslError();
      close();
      throw std::runtime_error("TLS handshake failed: " + reason);
    }
  }
  ~TlsClient() { close(); }
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  static int connectTcp(uint16_t port) {
    // OpenSSL writes with write(): a server that has closed must not kill the test.
    static const bool kIgnoreSigpipe = [] { return ::signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();
    (void)kIgnoreSigpipe;
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      ::close(fd);
      throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
    }
    return fd;
  }

  // False when the connection broke.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      int n =
          SSL_write(ssl_, bytes.data(), static_cast<int>(std::min<size_t>(bytes.size(), 1 << 20)));
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // The next answer; status 0 when the connection ended first. Skips 100 Continue unless asked.
  HttpAnswer read(bool skipContinue = true) {
    for (;;) {
      HttpAnswer answer;
      size_t end;
      while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
        if (!fill()) return {};
      }
      std::string head = buffer_.substr(0, end);
      buffer_.erase(0, end + 4);
      answer.status = std::stoi(head.substr(9, 3));
      size_t lineStart = head.find("\r\n");
      while (lineStart != std::string::npos) {
        size_t next = head.find("\r\n", lineStart + 2);
        std::string line = head.substr(
            lineStart + 2, next == std::string::npos ? std::string::npos : next - lineStart - 2);
        auto colon = line.find(':');
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        answer.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
        lineStart = next;
      }
      if (answer.status == 100 && skipContinue) continue;
      size_t length =
          answer.headers.count("content-length") ? std::stoul(answer.headers["content-length"]) : 0;
      while (buffer_.size() < length) {
        if (!fill()) return {};
      }
      answer.body = buffer_.substr(0, length);
      buffer_.erase(0, length);
      return answer;
    }
  }

  HttpAnswer roundTrip(std::string_view request) {
    if (!send(request)) return {};
    return read();
  }

  // True when the server has closed the connection (EOF or reset) rather than kept it open.
  bool closedByServer() {
    for (;;) {
      if (!buffer_.empty()) return false;
      if (!fill()) return true;
    }
  }

  std::string peerCommonName() const {
    X509* cert = SSL_get0_peer_certificate(ssl_);
    if (cert == nullptr) return "";
    std::array<char, 256> name{};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, name.data(),
                              static_cast<int>(name.size()));
    return name.data();
  }
  int peerChainLength() const {
    STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl_);
    return chain == nullptr ? 0 : sk_X509_num(chain);
  }
  std::string alpn() const {
    const unsigned char* data = nullptr;
    unsigned int length = 0;
    SSL_get0_alpn_selected(ssl_, &data, &length);
    return std::string(reinterpret_cast<const char*>(data), length);
  }
  std::string version() const { return SSL_get_version(ssl_); }

 private:
  bool fill() {
    std::array<char, 16384> chunk;
    int n = SSL_read(ssl_, chunk.data(), static_cast<int>(chunk.size()));
    if (n <= 0) return false;
    buffer_.append(chunk.data(), static_cast<size_t>(n));
    return true;
  }
  void close() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
    if (context_ != nullptr) SSL_CTX_free(context_);
    ssl_ = nullptr;
    fd_ = -1;
    context_ = nullptr;
    ERR_clear_error();
  }

  SSL_CTX* context_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  std::string buffer_;
};

std::string post(std::string_view target, std::string_view body,
                 std::string_view contentType = "application/json",
                 std::string_view extraHeaders = "") {
  std::string request = "POST " + std::string(target) + " HTTP/1.1\r\nHost: webhook.test\r\n";
  if (!contentType.empty()) request += "Content-Type: " + std::string(contentType) + "\r\n";
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  request += std::string(extraHeaders) + "\r\n";
  request += body;
  return request;
}

// The error message of a {"error": "..."} body, checking that it is one line of JSON.
std::string errorOf(const HttpAnswer& answer) {
  EXPECT_EQ(answer.headers.count("content-type") ? answer.headers.at("content-type") : "",
            "application/json");
  EXPECT_EQ(answer.body.find('\n'), std::string::npos) << answer.body;
  auto json = nlohmann::json::parse(answer.body, nullptr, false);
  if (!json.is_object() || !json.contains("error")) return "not an error body: " + answer.body;
  return json["error"].get<std::string>();
}

// A handler that records what it got and answers with a small AdmissionReview-like body,
// 400 when the body is not JSON, and throws for {"throw": true}.
class RecordingHandler {
 public:
  AdmissionServer::Handler handler() {
    return [this](std::string_view body) -> AdmissionHttpResponse {
      {
        std::lock_guard lock(mutex_);
        bodies_.emplace_back(body);
      }
      auto json = nlohmann::json::parse(body, nullptr, false);
      if (json.is_discarded()) return {400, R"({"error":"not JSON"})"};
      if (json.is_object() && json.value("throw", false)) {
        throw std::runtime_error("handler exploded\nwith detail");
      }
      return {200, R"({"kind":"AdmissionReview","response":{"allowed":true}})"};
    };
  }
  std::vector<std::string> bodies() {
    std::lock_guard lock(mutex_);
    return bodies_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> bodies_;
};

class AdmissionServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    credentials_ = makeCertificate("webhook-a");
    server_ = std::make_unique<AdmissionServer>("127.0.0.1:0", credentials_.certPem,
                                                credentials_.keyPem, recorder_.handler());
    ASSERT_NE(server_->port(), 0);
  }

  Credentials credentials_;
  RecordingHandler recorder_;
  std::unique_ptr<AdmissionServer> server_;
};

const std::string kReview = R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})";

TEST_F(AdmissionServerTest, PostReachesTheHandlerAndTheConnectionIsKeptAlive) {
  TlsClient client(server_->port());
  EXPECT_EQ(client.alpn(), "http/1.1");
  for (int i = 0; i < 3; ++i) {
    HttpAnswer answer = client.roundTrip(post("/mutate-v1-pod", kReview));
    EXPECT_EQ(answer.status, 200);
    EXPECT_EQ(answer.headers["content-type"], "application/json");
    EXPECT_EQ(answer.body, R"({"kind":"AdmissionReview","response":{"allowed":true}})");
  }
  EXPECT_EQ(recorder_.bodies(), std::vector<std::string>(3, kReview));
}

TEST_F(AdmissionServerTest, TheApiServersQueryStringIsIgnored) {
  TlsClient client(server_->port());
  EXPECT_EQ(client.roundTrip(post("/mutate-v1-pod?timeout=10s", kReview)).status, 200);
  EXPECT_EQ(
      client
          .roundTrip(post("/mutate-v1-pod?timeout=10s", kReview, "application/json; charset=utf-8"))
          .status,
      200);
  EXPECT_EQ(recorder_.bodies().size(), 2u);
}

TEST_F(AdmissionServerTest, OtherPathsMethodsAndContentTypesGetJsonErrors) {
  TlsClient client(server_->port());
  HttpAnswer answer = client.roundTrip(post("/validate", kReview));
  EXPECT_EQ(answer.status, 404);
  EXPECT_THAT(errorOf(answer), HasSubstr("no such path"));

  answer = client.roundTrip(post("/mutate-v1-pod/extra", kReview));
  EXPECT_EQ(answer.status, 404);

  answer = client.roundTrip("GET /mutate-v1-pod HTTP/1.1\r\nHost: webhook.test\r\n\r\n");
  EXPECT_EQ(answer.status, 405);
  EXPECT_EQ(answer.headers["allow"], "POST");
  EXPECT_THAT(errorOf(answer), HasSubstr("method not allowed"));

  answer = client.roundTrip(post("/mutate-v1-pod", kReview, "text/plain"));
  EXPECT_EQ(answer.status, 415);
  EXPECT_THAT(errorOf(answer), HasSubstr("application/json"));

  answer = client.roundTrip(post("/mutate-v1-pod", kReview, ""));
  EXPECT_EQ(answer.status, 415);

  // Still the same connection, still serving.
  EXPECT_EQ(client.roundTrip(post("/mutate-v1-pod", kReview)).status, 200);
  EXPECT_EQ(recorder_.bodies().size(), 1u);
}

TEST_F(AdmissionServerTest, ATenMegabyteBodyIs413AndTheServerGoesOn) {
  std::string big(10 * 1024 * 1024, 'x');
  {
    TlsClient client(server_->port());
    // The whole body is sent, as a client that does not wait for an early answer would; the
    // server answers from Content-Length and reads the rest away so the answer is not lost.
    ASSERT_TRUE(client.send(post("/mutate-v1-pod", big)));
    HttpAnswer answer = client.read();
    EXPECT_EQ(answer.status, 413);
    EXPECT_EQ(answer.headers["connection"], "close");
    EXPECT_THAT(errorOf(answer), HasSubstr("over the limit"));
    EXPECT_TRUE(client.closedByServer());
  }
  TlsClient next(server_->port());
  EXPECT_EQ(next.roundTrip(post("/mutate-v1-pod", kReview)).status, 200);
  EXPECT_EQ(recorder_.bodies(), std::vector<std::string>{kReview});
}

TEST_F(AdmissionServerTest, TooLargeIsAnsweredBeforeTheBodyWithExpectContinue) {
  TlsClient client(server_->port());
  // Only the header goes out: the answer must come without the body.
  ASSERT_TRUE(client.send(
      "POST /mutate-v1-pod HTTP/1.1\r\nHost: webhook.test\r\nContent-Type: application/json\r\n"
      "Content-Length: 10485760\r\nExpect: 100-continue\r\n\r\n"));
  EXPECT_EQ(client.read(false).status, 413);

  TlsClient small(server_->port());
  ASSERT_TRUE(small.send(
      "POST /mutate-v1-pod HTTP/1.1\r\nHost: webhook.test\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(kReview.size()) + "\r\nExpect: 100-continue\r\n\r\n"));
  EXPECT_EQ(small.read(false).status, 100);
  ASSERT_TRUE(small.send(kReview));
  EXPECT_EQ(small.read().status, 200);
}

TEST_F(AdmissionServerTest, AChunkedBodyThatGrowsPastTheLimitIs413) {
  TlsClient client(server_->port());
  ASSERT_TRUE(client.send(
      "POST /mutate-v1-pod HTTP/1.1\r\nHost: webhook.test\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n"));
  std::string chunk(256 * 1024, 'x');
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", chunk.size());
  for (int i = 0; i < 16; ++i) {  // 4 MiB in all
    if (!client.send(size + chunk + "\r\n")) break;
  }
  client.send("0\r\n\r\n");
  EXPECT_EQ(client.read().status, 413);

  // A chunked body within the limit is fine.
  TlsClient next(server_->port());
  std::snprintf(size, sizeof(size), "%zx\r\n", kReview.size());
  EXPECT_EQ(next.roundTrip("POST /mutate-v1-pod HTTP/1.1\r\nHost: webhook.test\r\n"
                           "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                           std::string(size) + kReview + "\r\n0\r\n\r\n")
                .status,
            200);
  EXPECT_EQ(recorder_.bodies(), std::vector<std::string>{kReview});
}

TEST_F(AdmissionServerTest, TruncatedJsonReachesTheHandlerWhichDecides) {
  TlsClient client(server_->port());
  std::string truncated = kReview.substr(0, kReview.size() / 2);
  HttpAnswer answer = client.roundTrip(post("/mutate-v1-pod", truncated));
  EXPECT_EQ(answer.status, 400);
  EXPECT_EQ(answer.body, R"({"error":"not JSON"})");
  EXPECT_EQ(recorder_.bodies(), std::vector<std::string>{truncated});
}

TEST_F(AdmissionServerTest, AHandlerThatThrowsIs500AndServingGoesOn) {
  TlsClient client(server_->port());
  HttpAnswer answer = client.roundTrip(post("/mutate-v1-pod", R"({"throw":true})"));
  EXPECT_EQ(answer.status, 500);
  EXPECT_THAT(errorOf(answer), HasSubstr("handler exploded"));
  EXPECT_EQ(client.roundTrip(post("/mutate-v1-pod", kReview)).status, 200);
}

TEST_F(AdmissionServerTest, Tls11ClientsAreRefused) {
  // The client allows TLS 1.1 (and weak ciphers) itself, so a failure is the server's refusal.
  ClientOptions tls11{TLS1_1_VERSION, TLS1_1_VERSION, true, ""};
  try {
    TlsClient client(server_->port(), tls11);
    FAIL() << "a TLS 1.1 handshake succeeded";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("protocol version"));
  }
  ClientOptions tls10{TLS1_VERSION, TLS1_VERSION, true, ""};
  EXPECT_THROW(TlsClient(server_->port(), tls10), std::runtime_error);

  // The same permissive client gets in with TLS 1.2.
  ClientOptions tls12{TLS1_VERSION, TLS1_2_VERSION, true, ""};
  TlsClient client(server_->port(), tls12);
  EXPECT_EQ(client.version(), "TLSv1.2");
  EXPECT_EQ(client.roundTrip(post("/mutate-v1-pod", kReview)).status, 200);
}

TEST_F(AdmissionServerTest, NewConnectionsGetANewCertificateOldOnesKeepTheirs) {
  TlsClient before(server_->port());
  EXPECT_EQ(before.peerCommonName(), "webhook-a");

  Credentials rotated = makeCertificate("webhook-b");
  server_->setCredentials(rotated.certPem, rotated.keyPem);
  TlsClient after(server_->port());
  EXPECT_EQ(after.peerCommonName(), "webhook-b");
  EXPECT_EQ(after.roundTrip(post("/mutate-v1-pod", kReview)).status, 200);
  // The connection made before the rotation is unaffected.
  EXPECT_EQ(before.roundTrip(post("/mutate-v1-pod", kReview)).status, 200);
  EXPECT_EQ(before.peerCommonName(), "webhook-a");
}

TEST_F(AdmissionServerTest, BadCredentialsAreRefusedAndTheOldOnesKept) {
  Credentials other = makeCertificate("webhook-b");
  auto refusal = [&](const std::string& cert, const std::string& key) -> std::string {
    try {
      server_->setCredentials(cert, key);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "accepted";
  };
  EXPECT_THAT(refusal("not a certificate", credentials_.keyPem), HasSubstr("no PEM certificate"));
  EXPECT_THAT(refusal(credentials_.certPem, "not a key"), HasSubstr("private key"));
  EXPECT_THAT(refusal(credentials_.certPem, other.keyPem), HasSubstr("does not match"));
  std::string corrupt = credentials_.certPem;
  corrupt[corrupt.size() / 2] = '*';
  EXPECT_THAT(refusal(corrupt, credentials_.keyPem), HasSubstr("webhook serving credentials"));

  TlsClient client(server_->port());
  EXPECT_EQ(client.peerCommonName(), "webhook-a");
  EXPECT_EQ(client.roundTrip(post("/mutate-v1-pod", kReview)).status, 200);
}

TEST(AdmissionServer, ServesTheWholeChainAndVerifiesAgainstItsCa) {
  Credentials ca = makeCertificate("webhook-ca", nullptr, true);
  Credentials leaf = makeCertificate("agentproxy-webhook.agentproxy-system.svc", &ca);
  AdmissionServer server("127.0.0.1:0", leaf.certPem + ca.certPem, leaf.keyPem,
                         [](std::string_view) {
                           return AdmissionHttpResponse{200, "{}"};
                         });
  ClientOptions verifying;
  verifying.trustedCaPem = ca.certPem;
  TlsClient client(server.port(), verifying);
  EXPECT_EQ(client.peerChainLength(), 2);
  EXPECT_EQ(client.roundTrip(post("/mutate-v1-pod", "{}")).body, "{}");

  ClientOptions wrongCa;
  wrongCa.trustedCaPem = makeCertificate("other-ca", nullptr, true).certPem;
  EXPECT_THROW(TlsClient(server.port(), wrongCa), std::runtime_error);
}

TEST(AdmissionServer, RefusesBadAddressesAndCredentialsAtConstruction) {
  Credentials credentials = makeCertificate("webhook");
  auto handler = [](std::string_view) { return AdmissionHttpResponse{}; };
  EXPECT_THROW(AdmissionServer("9443", credentials.certPem, credentials.keyPem, handler),
               std::invalid_argument);
  EXPECT_THROW(AdmissionServer("127.0.0.1:99999", credentials.certPem, credentials.keyPem, handler),
               std::invalid_argument);
  EXPECT_THROW(AdmissionServer("::1:9443", credentials.certPem, credentials.keyPem, handler),
               std::invalid_argument);
  EXPECT_THROW(AdmissionServer("127.0.0.1:0", "", credentials.keyPem, handler),
               std::invalid_argument);

  AdmissionServer first("127.0.0.1:0", credentials.certPem, credentials.keyPem, handler);
  try {
    AdmissionServer second("127.0.0.1:" + std::to_string(first.port()), credentials.certPem,
                           credentials.keyPem, handler);
    FAIL() << "two servers listen on one port";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot listen on 127.0.0.1:"));
  }

  // :port listens on all interfaces, 127.0.0.1 included.
  AdmissionServer any(":0", credentials.certPem, credentials.keyPem, handler);
  TlsClient client(any.port());
  EXPECT_EQ(client.roundTrip(post("/mutate-v1-pod", "{}")).status, 200);
}

TEST(AdmissionServer, SlowClientsDoNotPinTheOnlyThreadAndAreCutOff) {
  Credentials credentials = makeCertificate("webhook");
  AdmissionServer server(
      "127.0.0.1:0", credentials.certPem, credentials.keyPem,
      [](std::string_view) {
        return AdmissionHttpResponse{200, "{}"};
      },
      1, AdmissionServer::kDefaultBodyLimit, 300ms);
  // One client stops halfway through its header, another never starts its handshake.
  TlsClient slow(server.port());
  ASSERT_TRUE(slow.send("POST /mutate-v1-pod HTTP/1.1\r\nHost: web"));
  int silent = TlsClient::connectTcp(server.port());

  // The single worker thread still serves others.
  TlsClient quick(server.port());
  EXPECT_EQ(quick.roundTrip(post("/mutate-v1-pod", "{}")).status, 200);

  // And both are cut off at the deadline (the read gives up after 10 s at the latest).
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(slow.closedByServer());
  char byte;
  EXPECT_LE(::recv(silent, &byte, 1, 0), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  ::close(silent);
}

TEST(AdmissionServer, GarbageFromTheNetworkIsAnsweredOrDroppedAndServingGoesOn) {
  Credentials credentials = makeCertificate("webhook");
  AdmissionServer server("127.0.0.1:0", credentials.certPem, credentials.keyPem,
                         [](std::string_view) {
                           return AdmissionHttpResponse{200, "{}"};
                         });
  {
    // Plain HTTP to the TLS port: the handshake fails and the connection is closed.
    int fd = TlsClient::connectTcp(server.port());
    std::string plain = post("/mutate-v1-pod", "{}");
    ASSERT_EQ(::send(fd, plain.data(), plain.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(plain.size()));
    std::array<char, 4096> reply;
    while (::recv(fd, reply.data(), reply.size(), 0) > 0) {
    }
    ::close(fd);
  }
  {
    TlsClient client(server.port());
    HttpAnswer answer = client.roundTrip("NOT HTTP AT ALL\r\n\r\n");
    EXPECT_EQ(answer.status, 400);
    EXPECT_THAT(errorOf(answer), HasSubstr("malformed HTTP request"));
    EXPECT_TRUE(client.closedByServer());
  }
  {
    TlsClient client(server.port());
    HttpAnswer answer = client.roundTrip(
        "POST /mutate-v1-pod HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 12\r\nContent-Length: 13\r\n\r\n{}");
    EXPECT_EQ(answer.status, 400);
  }
  {
    TlsClient client(server.port());
    std::string huge = "GET / HTTP/1.1\r\nX-Filler: " + std::string(64 * 1024, 'a') + "\r\n\r\n";
    client.send(huge);
    EXPECT_EQ(client.read().status, 431);
  }
  TlsClient client(server.port());
  EXPECT_EQ(client.roundTrip(post("/mutate-v1-pod", "{}")).status, 200);
}

TEST(AdmissionServer, StopIsPromptWithConnectionsOpen) {
  Credentials credentials = makeCertificate("webhook");
  auto server = std::make_unique<AdmissionServer>("127.0.0.1:0", credentials.certPem,
                                                  credentials.keyPem, [](std::string_view) {
                                                    return AdmissionHttpResponse{200, "{}"};
                                                  });
  uint16_t port = server->port();
  TlsClient idle(port);
  ASSERT_EQ(idle.roundTrip(post("/mutate-v1-pod", "{}")).status, 200);
  TlsClient halfway(port);
  ASSERT_TRUE(halfway.send("POST /mutate-v1-pod HTTP/1.1\r\n"));
  int silent = TlsClient::connectTcp(port);

  auto start = std::chrono::steady_clock::now();
  server->stop();
  auto took = std::chrono::steady_clock::now() - start;
  // Prompt: not waiting for the open connections' 10 s read timeout (loose enough for a loaded
  // 2-core machine).
  EXPECT_LT(took, 5s);
  EXPECT_TRUE(idle.closedByServer());
  EXPECT_TRUE(halfway.closedByServer());
  EXPECT_THROW(TlsClient client(port), std::runtime_error);
  server->stop();  // idempotent
  server.reset();
  ::close(silent);
}

TEST(AdmissionServer, RotatesAndStopsWhileClientsAreBusy) {
  Credentials first = makeCertificate("webhook-0");
  auto server = std::make_unique<AdmissionServer>(
      "127.0.0.1:0", first.certPem, first.keyPem, [](std::string_view body) {
        return AdmissionHttpResponse{200, std::string(body)};
      });
  uint16_t port = server->port();
  std::atomic<bool> done{false};
  std::atomic<int> answered{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back([&] {
      while (!done) {
        try {
          TlsClient client(port);
          for (int n = 0; n < 5; ++n) {
            HttpAnswer answer = client.roundTrip(post("/mutate-v1-pod", kReview));
            if (answer.status == 0) break;  // the server stopped
            if (answer.status != 200 || answer.body != kReview) ++wrong;
            ++answered;
          }
        } catch (const std::runtime_error&) {
          // refused once the server has stopped
        }
      }
    });
  }
  for (int i = 1; i <= 10; ++i) {
    Credentials next = makeCertificate("webhook-" + std::to_string(i));
    server->setCredentials(next.certPem, next.keyPem);
    std::this_thread::sleep_for(20ms);
  }
  auto start = std::chrono::steady_clock::now();
  server->stop();
  // "Well under a second" when idle; loose enough for a loaded 2-core machine, and still far
  // from the 10 s read timeout a stop that waited for its connections would take.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  done = true;
  for (auto& client : clients) client.join();
  EXPECT_GT(answered.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace agentproxy::webhook
