// Byte streams with a deadline on every operation: TCP, and TLS over any stream (so TLS to an
// https:// proxy and TLS to the target inside its tunnel compose). Internal to the probe.
//
// Guarantees: no call blocks past its deadline by more than one poll() slice; failures throw
// TimeoutError or IoError with what was tried and what came back. OpenSSL types stay out of
// this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace agentproxy::probe {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

class TimeoutError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class IoError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ResolvedAddress;  // probe/resolver.h

class Stream {
 public:
  virtual ~Stream() = default;
  // Reads at least one byte; returns 0 at end of stream.
  virtual size_t readSome(char* buf, size_t size, Deadline deadline) = 0;
  virtual void writeAll(std::string_view data, Deadline deadline) = 0;
  // The socket underneath, for poll().
  virtual int fd() const = 0;
  // Bytes already decrypted and waiting (TLS); 0 for plain streams.
  virtual size_t pending() const { return 0; }
};

class TcpStream final : public Stream {
 public:
  // Resolves host (without blocking past the deadline) and connects with TCP_NODELAY set.
  static std::unique_ptr<TcpStream> connect(const std::string& host, uint16_t port,
                                            Deadline deadline);
  // Connects to the first of `addresses` (host's, resolved already) that accepts.
  static std::unique_ptr<TcpStream> connect(const std::vector<ResolvedAddress>& addresses,
                                            const std::string& host, uint16_t port,
                                            Deadline deadline);
  explicit TcpStream(int fd) : fd_(fd) {}
  ~TcpStream() override;
  TcpStream(const TcpStream&) = delete;
  TcpStream& operator=(const TcpStream&) = delete;

  size_t readSome(char* buf, size_t size, Deadline deadline) override;
  void writeAll(std::string_view data, Deadline deadline) override;
  int fd() const override { return fd_; }

 private:
  int fd_;
};

struct TlsClientOptions {
  std::string sni;                // empty: no SNI (IP literals)
  std::vector<std::string> alpn;  // e.g. {"h2", "http/1.1"}
};

// A TLS client over `lower`, which must outlive it. Verification is not done in the handshake:
// the probe wants to see the chain whatever it is, then judges it with verifies().
class TlsStream final : public Stream {
 public:
  TlsStream(Stream& lower, const TlsClientOptions& options, Deadline deadline);
  ~TlsStream() override;
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  size_t readSome(char* buf, size_t size, Deadline deadline) override;
  void writeAll(std::string_view data, Deadline deadline) override;
  int fd() const override;
  size_t pending() const override;

  std::string alpn() const;
  // Whether the presented chain verifies against rootsPem (empty: the system's roots), and,
  // when hostname is not empty, matches it. On failure, why in `reason`.
  bool verifies(const std::string& rootsPem, const std::string& hostname,
                std::string* reason = nullptr) const;
  // The issuer DN (RFC 2253) of the top certificate the server presented.
  std::string topIssuer() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Reads an HTTP response head (through the empty line), one byte at a time so that nothing
// after it is consumed. Throws IoError when the peer closes first or sends over maxBytes.
std::string readResponseHead(Stream& stream, Deadline deadline, size_t maxBytes = 16384);

// Milliseconds from `since` to now.
int64_t elapsedMs(Clock::time_point since);

}  // namespace agentproxy::probe
