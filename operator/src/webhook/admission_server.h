// The injection webhook's HTTPS/1.1 server: what the kube-apiserver calls for every Pod CREATE.
// Boost.Beast over Boost.Asio SSL, one io_context per thread (bench/webhook_bench.sh measured it
// against cpprestsdk's listener and nginx); Boost and OpenSSL stay behind this header.
//
// Guarantees:
//   - Only POST /mutate-v1-pod (any query string, such as the API server's ?timeout=10s) reaches
//     the handler, with the request body exactly as received, whatever it contains. Any other
//     path is 404, another method on that path 405 (Allow: POST), a Content-Type other than
//     application/json 415, a body over the limit 413 (from Content-Length before the body is
//     read, or as soon as a chunked body grows past it), an unparsable request 400, and a
//     handler that throws 500. Every answer has a short one-line JSON body; the errors read
//     {"error":"..."}. After a 413 or a 400 the connection is closed (the rest of the body is
//     read and dropped for a moment first, so the client sees the answer rather than a reset);
//     otherwise connections are kept alive as HTTP/1.1 says.
//   - TLS 1.2 or later only; ALPN selects http/1.1 when the client offers it.
//   - No thread is pinned by a slow or silent client: the TLS handshake, each request's header
//     (including the idle time before it), each body and each answer must complete within
//     readTimeout, or the connection is closed.
//   - setCredentials() swaps the serving certificate for new connections; connections already
//     established keep theirs. A certificate or key that cannot be used throws and changes
//     nothing.
//   - stop() (and the destructor) closes the listener and every connection and returns once the
//     worker threads have ended, well under a second when no handler call is running.
//   - Nothing that comes from the network throws out of the server or ends a worker thread.
// Assumptions:
//   - The handler is thread-safe (it runs on all worker threads at once) and quick: it runs on
//     the worker thread that owns the connection, so a slow handler delays that thread's other
//     connections. It must not call stop().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace agentproxy::webhook {

// What the handler answers: an HTTP status and a JSON body (sent as application/json).
struct AdmissionHttpResponse {
  int status = 200;
  std::string body;
};

class AdmissionServer {
 public:
  using Handler = std::function<AdmissionHttpResponse(std::string_view body)>;

  static constexpr std::string_view kPath = "/mutate-v1-pod";
  static constexpr unsigned kDefaultThreads = 2;
  static constexpr std::size_t kDefaultBodyLimit = 3 * 1024 * 1024;  // the API server's own limit
  static constexpr std::chrono::milliseconds kDefaultReadTimeout{10'000};

  // `address` is host:port, [ipv6]:port or :port (all interfaces); port 0 picks a free port
  // (see port()). `certChainPem` is the serving certificate followed by its intermediates.
  // Throws std::invalid_argument when the address or the credentials are unusable (the message
  // says which and why), std::runtime_error when it cannot listen.
  AdmissionServer(const std::string& address, const std::string& certChainPem,
                  const std::string& keyPem, Handler handler, unsigned threads = kDefaultThreads,
                  std::size_t bodyLimit = kDefaultBodyLimit,
                  std::chrono::milliseconds readTimeout = kDefaultReadTimeout);
  ~AdmissionServer();
  AdmissionServer(const AdmissionServer&) = delete;
  AdmissionServer& operator=(const AdmissionServer&) = delete;

  // The port listened on (the chosen one when the address said 0).
  uint16_t port() const;

  // Thread-safe; new connections get the new certificate. Throws std::invalid_argument (and
  // keeps the current certificate) when the PEM holds no certificate, no readable unencrypted
  // private key, or a key that does not match the certificate.
  void setCredentials(const std::string& certChainPem, const std::string& keyPem);

  // Idempotent; thread-safe except from within the handler.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace agentproxy::webhook
