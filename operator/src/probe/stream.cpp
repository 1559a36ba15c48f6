#include "probe/stream.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>

#include "probe/resolver.h"
#include "trust/openssl_handles.h"

namespace agentproxy::probe {
namespace {

int remainingMs(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left.count(), 1 << 30));
}

// Waits until fd is ready for `events`; throws TimeoutError at the deadline.
void waitFor(int fd, short events, Deadline deadline, const char* what) {
  for (;;) {
    pollfd p{fd, events, 0};
    int ms = remainingMs(deadline);
    int rc = ::poll(&p, 1, ms);
    if (rc > 0) return;
    if (rc == 0) throw TimeoutError(std::string("timed out ") + what);
    if (errno != EINTR) throw IoError(std::string("poll failed ") + what + ": " + strerror(errno));
  }
}

// host:port, and the address it resolved to when the host is a name: "proxy.corp:3128
// (10.1.2.3)".
std::string peerText(const std::string& host, uint16_t port, const ResolvedAddress& address) {
  std::string text = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                     std::to_string(port);
  char ip[INET6_ADDRSTRLEN] = "";
  const void* raw = address.family == AF_INET
                        ? static_cast<const void*>(
                              &reinterpret_cast<const sockaddr_in*>(&address.address)->sin_addr)
                        : static_cast<const void*>(
                              &reinterpret_cast<const sockaddr_in6*>(&address.address)->sin6_addr);
  if (inet_ntop(address.family, raw, ip, sizeof ip) && host != ip) {
    text += std::string(" (") + ip + ")";
  }
  return text;
}

// The first OpenSSL error queued, in words: the reason text, never the packed error number.
std::string opensslErrors() {
  unsigned long first = ERR_get_error();
  ERR_clear_error();
  if (first == 0) return "no detail from the TLS library";
  const char* reason = ERR_reason_error_string(first);
  return reason ? reason : "TLS library error";
}

// A failed handshake as a person reads it: what the other side did, and what that means.
std::string tlsFailureInWords(unsigned long error, int sslError) {
  if (error == 0) {
    return sslError == SSL_ERROR_SYSCALL || sslError == SSL_ERROR_ZERO_RETURN
               ? "the other side closed the connection during the TLS handshake"
               : "the TLS handshake failed without a reason from the TLS library";
  }
  switch (ERR_GET_REASON(error)) {
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
      return "the other side closed the connection during the TLS handshake";
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_HTTP_REQUEST:
      return "the other side does not speak TLS on this port (its answer is not a TLS "
             "record; plain HTTP, or another protocol)";
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
      return "the server and the probe share no TLS version (TLS 1.2 or later is required)";
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
    case SSL_R_NO_SHARED_CIPHER:
      return "the server refused the TLS handshake (no cipher or parameters in common, or it "
             "requires a client certificate)";
    case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
      return "the server accepts none of the offered application protocols (ALPN h2, "
             "http/1.1)";
    case SSL_R_TLSV1_UNRECOGNIZED_NAME:
      return "the server does not serve the server name sent (SNI)";
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
      return "the server rejected the handshake over a certificate (it wants a client "
             "certificate it trusts)";
    case SSL_R_TLSV1_ALERT_INTERNAL_ERROR:
      return "the server aborted the TLS handshake with an internal error";
    default: {
      const char* reason = ERR_reason_error_string(error);
      return std::string("the TLS handshake failed: ") + (reason ? reason : "unknown reason");
    }
  }
}

// A socket error in words, with who was on the other side.
std::string socketErrorInWords(int err, const std::string& peer) {
  switch (err) {
    case ECONNREFUSED:
      return "connection refused by " + peer +
             ": nothing listens on that port, or a firewall rejects the connection";
    case ECONNRESET:
      return "the connection was reset by " + peer;
    case ETIMEDOUT:
      return "the connection to " + peer + " timed out in the network";
    case EHOSTUNREACH:
      return "no route to " + peer + ": the host is unreachable from here";
    case ENETUNREACH:
      return "the network of " + peer + " is unreachable from here: no route";
    case EPIPE:
      return peer + " closed the connection while the probe was sending";
    case EADDRNOTAVAIL:
      return "cannot connect to " + peer + " from here: no usable local address";
    case EACCES:
    case EPERM:
      return "the connection to " + peer + " is not permitted by a local firewall rule";
    default:
      return std::string(strerror(err)) + " (" + peer + ")";
  }
}

}  // namespace

int64_t elapsedMs(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

std::unique_ptr<TcpStream> TcpStream::connect(const std::string& host, uint16_t port,
                                              Deadline deadline) {
  return connect(resolveHost(host, port, deadline), host, port, deadline);
}

std::unique_ptr<TcpStream> TcpStream::connect(const std::vector<ResolvedAddress>& addresses,
                                              const std::string& host, uint16_t port,
                                              Deadline deadline) {
  std::string lastError = "no address";
  for (const ResolvedAddress& a : addresses) {
    int fd = ::socket(a.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      lastError = std::string("cannot open a socket: ") + strerror(errno);
      continue;
    }
    auto stream = std::make_unique<TcpStream>(fd);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&a.address), a.length) == 0) return stream;
    if (errno != EINPROGRESS) {
      lastError = socketErrorInWords(errno, peerText(host, port, a));
      continue;
    }
    waitFor(fd, POLLOUT, deadline, ("connecting to " + host).c_str());
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err == 0) return stream;
    lastError = socketErrorInWords(err, peerText(host, port, a));
  }
  throw IoError(lastError);
}

TcpStream::~TcpStream() { ::close(fd_); }

size_t TcpStream::readSome(char* buf, size_t size, Deadline deadline) {
  for (;;) {
    ssize_t n = ::recv(fd_, buf, size, 0);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      throw IoError(socketErrorInWords(errno, "the other side"));
    }
    waitFor(fd_, POLLIN, deadline, "waiting for data");
  }
}

void TcpStream::writeAll(std::string_view data, Deadline deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      throw IoError(socketErrorInWords(errno, "the other side"));
    }
    waitFor(fd_, POLLOUT, deadline, "sending");
  }
}

// ---- TLS over a Stream through a custom BIO ----

namespace {

// One client context for every connection: what differs (ALPN, SNI) is set per connection, and
// verification is done after the handshake against the roots each check names (verifies()).
// Creating a context costs more than a TLS 1.3 handshake's own CPU under OpenSSL 3. Clients keep
// no session cache by default, so every handshake is a full one that shows the real chain.
SSL_CTX* clientContext() {
  static SSL_CTX* const ctx = [] {
    SSL_CTX* c = SSL_CTX_new(TLS_client_method());
    if (c) {
      SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
      SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
    }
    return c;
  }();
  return ctx;
}

}  // namespace

struct TlsStream::Impl {
  Stream* lower = nullptr;
  SSL* ssl = nullptr;
  Deadline deadline;
  std::exception_ptr lowerError;  // thrown by `lower` inside a BIO callback, rethrown outside

  ~Impl() {
    if (ssl) SSL_free(ssl);
  }

  // Runs an SSL call; maps failures (including those of the stream below) to exceptions.
  bool handshaking = false;

  template <typename Fn>
  int call(Fn fn, const char* what) {
    lowerError = nullptr;
    ERR_clear_error();
    int rc = fn();
    if (rc > 0) return rc;
    if (lowerError) std::rethrow_exception(lowerError);
    int err = SSL_get_error(ssl, rc);
    if (err == SSL_ERROR_ZERO_RETURN) return 0;
    if (err == SSL_ERROR_SYSCALL && rc == 0 && !handshaking) return 0;  // closed, no close_notify
    unsigned long first = ERR_peek_error();
    std::string detail = handshaking ? tlsFailureInWords(first, err) : opensslErrors();
    ERR_clear_error();
    throw IoError(handshaking ? detail : std::string(what) + ": " + detail);
  }
};

namespace {

BIO_METHOD* streamBioMethod() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "agentproxy-stream");
    BIO_meth_set_write(m, [](BIO* bio, const char* data, int len) -> int {
      auto* impl = static_cast<TlsStream::Impl*>(BIO_get_data(bio));
      try {
        impl->lower->writeAll(std::string_view(data, static_cast<size_t>(len)), impl->deadline);
        return len;
      } catch (...) {
        impl->lowerError = std::current_exception();
        return -1;
      }
    });
    BIO_meth_set_read(m, [](BIO* bio, char* data, int len) -> int {
      auto* impl = static_cast<TlsStream::Impl*>(BIO_get_data(bio));
      try {
        return static_cast<int>(impl->lower->readSome(data, static_cast<size_t>(len),
                                                      impl->deadline));
      } catch (...) {
        impl->lowerError = std::current_exception();
        return -1;
      }
    });
    BIO_meth_set_ctrl(m, [](BIO*, int cmd, long, void*) -> long {
      return cmd == BIO_CTRL_FLUSH ? 1 : 0;
    });
    BIO_meth_set_create(m, [](BIO* bio) -> int {
      BIO_set_init(bio, 1);
      return 1;
    });
    return m;
  }();
  return method;
}

std::string wireAlpn(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const auto& p : protocols) {
    wire += static_cast<char>(p.size());
    wire += p;
  }
  return wire;
}

// RFC 2253 with non-ASCII bytes escaped (\\xx), as the probe reports names.
std::string nameToString(const X509_NAME* name) {
  trust::detail::BioPtr mem(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(mem.get(), name, 0, XN_FLAG_RFC2253);
  return trust::detail::bioText(mem.get());
}

// Verification stores, shared: parsing a bundle (the system's holds ~140 certificates) for
// every probe cost more CPU and memory than the probe itself. An X509_STORE is safe to verify
// against from several threads. The cache is small: policies share a handful of bundles.
class StoreCache {
 public:
  // A new reference to the store for `pem` (the system's default locations when empty); the
  // caller frees it.
  X509_STORE* get(const std::string& pem) {
    std::lock_guard lock(mutex_);
    auto it = stores_.find(pem);
    if (it == stores_.end()) {
      if (stores_.size() >= kMaxStores) {
        X509_STORE_free(stores_.begin()->second);
        stores_.erase(stores_.begin());
      }
      it = stores_.emplace(pem, build(pem)).first;
    }
    X509_STORE_up_ref(it->second);
    return it->second;
  }

 private:
  static X509_STORE* build(const std::string& pem) {
    X509_STORE* store = X509_STORE_new();
    if (pem.empty()) {
      // The system's roots as X509_STORE_set_default_paths() finds them (the bundle file and
      // the hashed directory, SSL_CERT_FILE and SSL_CERT_DIR honoured), without the OSSL_STORE
      // lookup it also adds in OpenSSL 3: that one lists and decodes the whole directory for
      // every issuer it does not find (an interceptor's, a private CA's), which was most of
      // the verification's CPU in a probe of such a target.
      const char* file = std::getenv(X509_get_default_cert_file_env());
      const char* dir = std::getenv(X509_get_default_cert_dir_env());
      X509_STORE_load_file(store, file && *file ? file : X509_get_default_cert_file());
      X509_STORE_load_path(store, dir && *dir ? dir : X509_get_default_cert_dir());
      ERR_clear_error();
      return store;
    }
    trust::detail::BioPtr mem = trust::detail::readBio(pem);
    while (trust::detail::X509Ptr cert{PEM_read_bio_X509(mem.get(), nullptr, nullptr, nullptr)}) {
      X509_STORE_add_cert(store, cert.get());
    }
    ERR_clear_error();
    return store;
  }

  static constexpr size_t kMaxStores = 32;
  std::mutex mutex_;
  std::map<std::string, X509_STORE*> stores_;
};

X509_STORE* sharedStore(const std::string& pem) {
  static StoreCache* cache = new StoreCache();  // never destroyed: used until exit
  return cache->get(pem);
}

}  // namespace

TlsStream::TlsStream(Stream& lower, const TlsClientOptions& options, Deadline deadline)
    : impl_(std::make_unique<Impl>()) {
  impl_->lower = &lower;
  impl_->deadline = deadline;
  SSL_CTX* ctx = clientContext();
  if (!ctx) throw IoError("cannot create a TLS context: " + opensslErrors());
  impl_->ssl = SSL_new(ctx);
  if (!impl_->ssl) throw IoError("cannot create a TLS connection: " + opensslErrors());
  if (!options.alpn.empty()) {
    auto wire = wireAlpn(options.alpn);
    SSL_set_alpn_protos(impl_->ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned>(wire.size()));
  }
  if (!options.sni.empty()) SSL_set_tlsext_host_name(impl_->ssl, options.sni.c_str());
  BIO* bio = BIO_new(streamBioMethod());
  BIO_set_data(bio, impl_.get());
  SSL_set_bio(impl_->ssl, bio, bio);
  impl_->handshaking = true;
  impl_->call([&] { return SSL_connect(impl_->ssl); }, "TLS handshake failed");
  impl_->handshaking = false;
}

TlsStream::~TlsStream() = default;

size_t TlsStream::readSome(char* buf, size_t size, Deadline deadline) {
  impl_->deadline = deadline;
  return static_cast<size_t>(impl_->call(
      [&] { return SSL_read(impl_->ssl, buf, static_cast<int>(size)); }, "TLS read failed"));
}

void TlsStream::writeAll(std::string_view data, Deadline deadline) {
  impl_->deadline = deadline;
  while (!data.empty()) {
    int n = impl_->call(
        [&] { return SSL_write(impl_->ssl, data.data(), static_cast<int>(data.size())); },
        "TLS write failed");
    if (n == 0) throw IoError("TLS write failed: the peer closed the connection");
    data.remove_prefix(static_cast<size_t>(n));
  }
}

int TlsStream::fd() const { return impl_->lower->fd(); }

size_t TlsStream::pending() const {
  return static_cast<size_t>(SSL_pending(impl_->ssl)) + impl_->lower->pending();
}

std::string TlsStream::alpn() const {
  const unsigned char* data = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(impl_->ssl, &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

namespace {

std::string asn1TimeText(const ASN1_TIME* time) {
  if (!time) return "an unknown date";
  trust::detail::BioPtr mem(BIO_new(BIO_s_mem()));
  ASN1_TIME_print(mem.get(), time);
  return trust::detail::bioText(mem.get());
}

// What the certificate is for: its DNS and IP subject alternative names, else its subject CN.
std::string namesOf(X509* cert) {
  std::string out;
  auto add = [&](const std::string& name) { out += (out.empty() ? "" : ", ") + name; };
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr,
                                                             nullptr));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && i < 8; ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS) {
      const ASN1_STRING* dns = name->d.dNSName;
      add(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                      static_cast<size_t>(ASN1_STRING_length(dns))));
    } else if (name->type == GEN_IPADD) {
      const ASN1_STRING* ip = name->d.iPAddress;
      char text[INET6_ADDRSTRLEN] = "";
      int family = ASN1_STRING_length(ip) == 4 ? AF_INET : AF_INET6;
      if (ASN1_STRING_length(ip) == 4 || ASN1_STRING_length(ip) == 16) {
        inet_ntop(family, ASN1_STRING_get0_data(ip), text, sizeof text);
        add(text);
      }
    }
  }
  GENERAL_NAMES_free(names);
  if (out.empty()) out = nameToString(X509_get_subject_name(cert));
  return out.empty() ? "no name" : out;
}

// An X509_verify_cert() failure in words a person can act on.
std::string verifyProblem(int error, X509_STORE_CTX* ctx, X509* leaf, const std::string& hostname) {
  X509* at = X509_STORE_CTX_get_current_cert(ctx);
  if (!at) at = leaf;
  switch (error) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      return "certificate signed by an unknown authority (" +
             nameToString(X509_get_issuer_name(at)) + ")";
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return "the certificate of " + nameToString(X509_get_subject_name(at)) + " expired on " +
             asn1TimeText(X509_get0_notAfter(at));
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return "the certificate of " + nameToString(X509_get_subject_name(at)) +
             " is not valid before " + asn1TimeText(X509_get0_notBefore(at));
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return "the certificate is for " + namesOf(leaf) + ", not " + hostname;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
      return "the certificate's signature does not verify (a forged or corrupted certificate)";
    default:
      return std::string("the certificate does not verify: ") +
             X509_verify_cert_error_string(error);
  }
}

}  // namespace

bool TlsStream::verifies(const std::string& rootsPem, const std::string& hostname,
                         std::string* reason) const {
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(impl_->ssl);
  X509* leaf = SSL_get0_peer_certificate(impl_->ssl);
  if (!leaf) {
    if (reason) *reason = "the server presented no certificate";
    return false;
  }
  trust::detail::StorePtr store(sharedStore(rootsPem));
  trust::detail::StoreCtxPtr owned(X509_STORE_CTX_new());
  X509_STORE_CTX* ctx = owned.get();
  X509_STORE_CTX_init(ctx, store.get(), leaf, chain);
  if (!hostname.empty()) {
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx);
    unsigned char ip[16];
    if (inet_pton(AF_INET, hostname.c_str(), ip) == 1 ||
        inet_pton(AF_INET6, hostname.c_str(), ip) == 1) {
      X509_VERIFY_PARAM_set1_ip_asc(param, hostname.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, hostname.c_str(), 0);
    }
  }
  bool ok = X509_verify_cert(ctx) == 1;
  if (!ok && reason) *reason = verifyProblem(X509_STORE_CTX_get_error(ctx), ctx, leaf, hostname);
  ERR_clear_error();
  return ok;
}

std::string TlsStream::topIssuer() const {
  STACK_OF(X509)* chain = SSL_get_peer_cert_chain(impl_->ssl);
  X509* top = chain && sk_X509_num(chain) > 0 ? sk_X509_value(chain, sk_X509_num(chain) - 1)
                                               : SSL_get0_peer_certificate(impl_->ssl);
  return top ? nameToString(X509_get_issuer_name(top)) : std::string();
}

std::string readResponseHead(Stream& stream, Deadline deadline, size_t maxBytes) {
  std::string head;
  char c;
  while (head.size() < maxBytes) {
    if (stream.readSome(&c, 1, deadline) == 0) {
      if (head.empty()) throw IoError("the connection was closed without an answer");
      throw IoError("the connection was closed in the middle of the answer");
    }
    head += c;
    if (head.ends_with("\r\n\r\n") || head.ends_with("\n\n")) return head;
  }
  throw IoError("the answer's header is larger than " + std::to_string(maxBytes) + " bytes");
}

}  // namespace agentproxy::probe
