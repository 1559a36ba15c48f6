#include "webhook/admission_server.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>

#include <algorithm>
#include <array>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <charconv>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "serving/tcp_listener.h"
#include "trust/openssl_handles.h"

namespace agentproxy::webhook {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;
// Sockets and timers bound to their io_context's own executor type rather than the
// type-erased any_io_executor, which costs a little on every operation.
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using TcpStream = beast::basic_stream<tcp, Executor, beast::unlimited_rate_policy>;

// Far above what the API server sends (a dozen short headers), far below memory trouble.
constexpr std::size_t kHeaderLimit = 16 * 1024;
// After an answer that closes the connection (413, 400), how long the rest of what the client
// sends is read and dropped, so that closing does not reset the connection before the client
// has read the answer (nginx's lingering close).
constexpr std::chrono::milliseconds kMaxLinger{2000};

// ---- credentials ----

// The reason of the most recent OpenSSL error ("no start line"), and an empty error queue.
std::string takeOpenSslError() {
  unsigned long last = 0;
  while (unsigned long code = ERR_get_error()) last = code;
  if (last == 0) return "no detail from OpenSSL";
  const char* reason = ERR_reason_error_string(last);
  if (reason != nullptr) return reason;
  std::array<char, 256> text{};
  ERR_error_string_n(last, text.data(), text.size());
  return text.data();
}

std::invalid_argument credentialsError(const std::string& what) {
  return std::invalid_argument("webhook serving credentials: " + what);
}

// An encrypted key would otherwise make OpenSSL ask for a passphrase on the terminal.
int refusePassphrase(char* /*buffer*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) {
  return -1;
}

// http/1.1 when the client offers it; no ALPN otherwise (HTTP/1.1 is what it gets anyway).
int selectHttp11(SSL* /*ssl*/, const unsigned char** out, unsigned char* outlen,
                 const unsigned char* in, unsigned int inlen, void* /*arg*/) {
  constexpr std::string_view kHttp11 = "http/1.1";
  for (unsigned int i = 0; i < inlen;) {
    unsigned int length = in[i];
    if (i + 1 + length > inlen) break;
    if (std::string_view(reinterpret_cast<const char*>(in + i + 1), length) == kHttp11) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(length);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + length;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

using trust::detail::BioPtr;
using trust::detail::KeyPtr;
using trust::detail::X509Ptr;

BioPtr memoryBio(const std::string& text) {
  BioPtr bio = trust::detail::readBio(text);
  if (!bio) throw std::bad_alloc();
  return bio;
}

// A server context with the certificate chain and key, checked against each other: the only
// place credentials are read, so a bad PEM never replaces a good context.
std::shared_ptr<ssl::context> makeTlsContext(const std::string& certChainPem,
                                             const std::string& keyPem) {
  ERR_clear_error();
  std::vector<X509Ptr> chain;
  {
    BioPtr bio = memoryBio(certChainPem);
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, refusePassphrase, nullptr)) {
      chain.emplace_back(cert);
    }
    // Running out of PEM blocks ends the loop with "no start line"; anything else is a
    // block that is there but broken.
    unsigned long error = ERR_peek_last_error();
    bool endOfInput =
        ERR_GET_LIB(error) == ERR_LIB_PEM && ERR_GET_REASON(error) == PEM_R_NO_START_LINE;
    if (chain.empty()) {
      throw credentialsError("no PEM certificate in the certificate chain (" + takeOpenSslError() +
                             ")");
    }
    if (error != 0 && !endOfInput) {
      throw credentialsError("certificate " + std::to_string(chain.size() + 1) +
                             " of the chain is not readable: " + takeOpenSslError());
    }
    ERR_clear_error();
  }
  KeyPtr key;
  {
    BioPtr bio = memoryBio(keyPem);
    key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, refusePassphrase, nullptr));
    if (!key) {
      throw credentialsError("no readable unencrypted PEM private key (" + takeOpenSslError() +
                             ")");
    }
  }

  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    throw std::runtime_error("webhook TLS: cannot require TLS 1.2: " + takeOpenSslError());
  }
  SSL_CTX_set_options(
      native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  if (SSL_CTX_use_certificate(native, chain.front().get()) != 1) {
    throw credentialsError("the certificate is not usable: " + takeOpenSslError());
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(native, chain[i].get()) != 1) {
      throw credentialsError("certificate " + std::to_string(i + 1) +
                             " of the chain is not usable: " + takeOpenSslError());
    }
  }
  if (SSL_CTX_use_PrivateKey(native, key.get()) != 1 || SSL_CTX_check_private_key(native) != 1) {
    throw credentialsError("the private key does not match the certificate (" + takeOpenSslError() +
                           ")");
  }
  SSL_CTX_set_alpn_select_cb(native, selectHttp11, nullptr);
  // Keep-alive connections make resumption rare; a small cache keeps memory flat.
  SSL_CTX_sess_set_cache_size(native, 1024);
  return context;
}

// ---- one connection ----

struct Settings {
  AdmissionServer::Handler handler;
  std::size_t bodyLimit = 0;
  std::chrono::milliseconds readTimeout{0};
};

std::string errorBody(const std::string& message) {
  return nlohmann::json{{"error", message}}.dump(-1, ' ', false,
                                                 nlohmann::json::error_handler_t::replace);
}

bool isJsonMediaType(std::string_view contentType) {
  std::string_view type = contentType.substr(0, contentType.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  return beast::iequals(type, "application/json");
}

struct Reply {
  unsigned status = 200;
  std::string body;
  bool close = false;   // Connection: close, then close
  bool linger = false;  // and drain what the client still sends
};

// Owns one TLS connection: handshake, then request after request until the client closes,
// an error, or a deadline. Lives as long as an operation of its own is pending.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Socket socket, std::shared_ptr<ssl::context> tls,
          std::shared_ptr<const Settings> settings)
      : tls_(std::move(tls)), settings_(std::move(settings)), stream_(std::move(socket), *tls_) {}

  void start() {
    ErrorCode ignored;
    tcpStream().socket().set_option(tcp::no_delay(true), ignored);
    tcpStream().expires_after(settings_->readTimeout);
    stream_.async_handshake(ssl::stream_base::server,
                            [self = shared_from_this()](const ErrorCode& ec) {
                              if (!ec) self->readHeader();
                            });
  }

 private:
  TcpStream& tcpStream() { return beast::get_lowest_layer(stream_); }

  void readHeader() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(settings_->bodyLimit);
    tcpStream().expires_after(settings_->readTimeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](const ErrorCode& ec, std::size_t) {
                              if (ec) return self->failRead(ec);
                              self->onHeader();
                            });
  }

  void onHeader() {
    if (beast::iequals(parser_->get()[http::field::expect], "100-continue") &&
        !parser_->is_done()) {
      continue_.emplace(http::status::continue_, 11);
      tcpStream().expires_after(settings_->readTimeout);
      http::async_write(stream_, *continue_,
                        [self = shared_from_this()](const ErrorCode& ec, std::size_t) {
                          if (!ec) self->readBody();
                        });
      return;
    }
    readBody();
  }

  void readBody() {
    if (parser_->is_done()) return respond(route());
    tcpStream().expires_after(settings_->readTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](const ErrorCode& ec, std::size_t) {
                       if (ec) return self->failRead(ec);
                       self->respond(self->route());
                     });
  }

  // The client went away or ran out of time: close. It sent what we will not take: say so,
  // then close.
  void failRead(const ErrorCode& ec) {
    if (ec == http::error::body_limit) {
      return respond({413,
                      errorBody("request body over the limit of " +
                                std::to_string(settings_->bodyLimit) + " bytes"),
                      true, true});
    }
    if (ec == http::error::header_limit) {
      return respond({431, errorBody("request header over the limit"), true, true});
    }
    if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return respond({400, errorBody("malformed HTTP request: " + ec.message()), true, true});
    }
  }

  Reply route() {
    auto& request = parser_->get();
    bool close = !request.keep_alive();
    std::string_view target(request.target().data(), request.target().size());
    std::string_view path = target.substr(0, target.find('?'));
    if (path != AdmissionServer::kPath) {
      return {404, errorBody("no such path: the webhook serves POST /mutate-v1-pod"), close};
    }
    if (request.method() != http::verb::post) {
      return {405, errorBody("method not allowed: the webhook serves POST /mutate-v1-pod"), close};
    }
    auto contentType = request[http::field::content_type];
    if (!isJsonMediaType(std::string_view(contentType.data(), contentType.size()))) {
      return {415, errorBody("unsupported Content-Type: the webhook takes application/json"),
              close};
    }
    try {
      AdmissionHttpResponse answer = settings_->handler(std::string_view(request.body()));
      if (answer.status < 200 || answer.status > 599) {
        return {
            500,
            errorBody("the webhook handler answered HTTP status " + std::to_string(answer.status)),
            close};
      }
      return {static_cast<unsigned>(answer.status), std::move(answer.body), close};
    } catch (const std::exception& e) {
      return {500, errorBody(std::string("the webhook handler failed: ") + e.what()), close};
    } catch (...) {
      return {500, errorBody("the webhook handler failed with an unknown exception"), close};
    }
  }

  void respond(Reply reply) {
    response_.emplace();
    response_->version(11);
    response_->result(reply.status);
    response_->set(http::field::content_type, "application/json");
    if (reply.status == 405) response_->set(http::field::allow, "POST");
    // A 204 or 304 has no body by definition.
    if (reply.status != 204 && reply.status != 304) response_->body() = std::move(reply.body);
    response_->keep_alive(!reply.close);
    response_->prepare_payload();
    tcpStream().expires_after(settings_->readTimeout);
    http::async_write(stream_, *response_,
                      [self = shared_from_this(), close = reply.close, linger = reply.linger](
                          const ErrorCode& ec, std::size_t) {
                        if (ec) return;
                        self->response_.reset();
                        if (linger) return self->linger();
                        if (close) return self->closeWrite();
                        self->readHeader();
                      });
  }

  void closeWrite() {
    ErrorCode ignored;
    tcpStream().socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  void linger() {
    closeWrite();
    parser_.reset();
    buffer_ = {};
    drain_ = std::make_unique<std::array<char, 16 * 1024>>();
    tcpStream().expires_after(std::min(kMaxLinger, settings_->readTimeout));
    drainSome();
  }

  void drainSome() {
    tcpStream().async_read_some(asio::buffer(*drain_),
                                [self = shared_from_this()](const ErrorCode& ec, std::size_t) {
                                  if (!ec) self->drainSome();
                                });
  }

  std::shared_ptr<ssl::context> tls_;  // before stream_, which uses it
  std::shared_ptr<const Settings> settings_;
  beast::ssl_stream<TcpStream> stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  std::optional<http::response<http::string_body>> response_;
  std::unique_ptr<std::array<char, 16 * 1024>> drain_;
};

// Runs until the context is stopped. A completion handler that throws (it should not) costs
// its connection, not the thread.
void runWorker(asio::io_context& io) {
  for (;;) {
    try {
      io.run();
      return;
    } catch (const std::exception&) {
      // the connection whose handler threw is gone; keep serving the others
    }
  }
}

bool isResourceShortage(const ErrorCode& ec) {
  return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
         ec == asio::error::no_memory || ec.value() == ENFILE;
}

}  // namespace

// One io_context per worker thread, each running alone (no locks, no strands); the acceptor
// lives on the first and deals connections out in turn.
struct AdmissionServer::Impl {
  std::shared_ptr<const Settings> settings;
  std::mutex tlsMutex;
  std::shared_ptr<ssl::context> tls;
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> workGuards;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::steady_timer> acceptRetry;
  std::vector<std::thread> threads;
  std::size_t nextContext = 0;  // the acceptor's thread only
  uint16_t port = 0;
  std::mutex stopMutex;
  bool stopped = false;

  ~Impl() { stop(); }

  std::shared_ptr<ssl::context> currentTls() {
    std::lock_guard lock(tlsMutex);
    return tls;
  }

  void accept() {
    asio::io_context& io = *contexts[nextContext++ % contexts.size()];
    acceptor->async_accept(io, [this, &io](const ErrorCode& ec, Socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        try {
          auto session = std::make_shared<Session>(std::move(socket), currentTls(), settings);
          asio::post(io, [session] { session->start(); });
        } catch (const std::exception&) {
          // no memory for this connection: it is closed, the next may fare better
        }
      } else if (isResourceShortage(ec)) {
        // Out of descriptors: accepting again at once would spin.
        acceptRetry->expires_after(std::chrono::milliseconds(100));
        acceptRetry->async_wait([this](const ErrorCode& waitError) {
          if (!waitError) accept();
        });
        return;
      }
      accept();
    });
  }

  void stop() {
    std::lock_guard lock(stopMutex);
    if (stopped) return;
    stopped = true;
    for (auto& io : contexts) io->stop();
    for (auto& thread : threads) {
      if (thread.joinable()) thread.join();
    }
    acceptRetry.reset();
    acceptor.reset();
    workGuards.clear();
    // Destroying a context destroys its pending operations and with them the sessions they
    // own: every connection closes here. The acceptor's context goes first: its pending accept
    // holds a socket of another context, which must still exist when that socket is destroyed.
    for (auto& io : contexts) io.reset();
    contexts.clear();
  }
};

AdmissionServer::AdmissionServer(const std::string& address, const std::string& certChainPem,
                                 const std::string& keyPem, Handler handler, unsigned threads,
                                 std::size_t bodyLimit, std::chrono::milliseconds readTimeout)
    : impl_(std::make_unique<Impl>()) {
  if (threads == 0) throw std::invalid_argument("webhook server: threads must be at least 1");
  if (!handler) throw std::invalid_argument("webhook server: no handler");
  if (readTimeout <= std::chrono::milliseconds::zero()) {
    throw std::invalid_argument("webhook server: the read timeout must be positive");
  }
  impl_->settings =
      std::make_shared<const Settings>(Settings{std::move(handler), bodyLimit, readTimeout});
  impl_->tls = makeTlsContext(certChainPem, keyPem);
  for (unsigned i = 0; i < threads; ++i) {
    impl_->contexts.push_back(std::make_unique<asio::io_context>(1));
    impl_->workGuards.push_back(asio::make_work_guard(*impl_->contexts.back()));
  }
  impl_->acceptor = serving::listenOn(address, "webhook", *impl_->contexts.front());
  impl_->port = impl_->acceptor->local_endpoint().port();
  impl_->acceptRetry = std::make_unique<asio::steady_timer>(*impl_->contexts.front());
  impl_->accept();
  for (unsigned i = 0; i < threads; ++i) {
    asio::io_context* io = impl_->contexts[i].get();
    impl_->threads.emplace_back([io] { runWorker(*io); });
    pthread_setname_np(impl_->threads.back().native_handle(),
                       ("webhook-" + std::to_string(i)).substr(0, 15).c_str());
  }
}

AdmissionServer::~AdmissionServer() = default;

uint16_t AdmissionServer::port() const { return impl_->port; }

void AdmissionServer::setCredentials(const std::string& certChainPem, const std::string& keyPem) {
  auto fresh = makeTlsContext(certChainPem, keyPem);
  std::lock_guard lock(impl_->tlsMutex);
  impl_->tls = std::move(fresh);
}

void AdmissionServer::stop() { impl_->stop(); }

}  // namespace agentproxy::webhook
