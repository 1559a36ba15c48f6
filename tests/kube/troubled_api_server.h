// A plain-HTTP stand-in for an API server in trouble, for unit tests of what the operator does
// when the server misbehaves in ways the real one does only at random: it listens on
// 127.0.0.1 (a free port), counts the requests it reads and answers each with a fixed answer,
// or with what a function makes of the request's head (nothing at all when empty), until
// destroyed (the thread is joined, every socket closed). One request per connection: answers
// should say "Connection: close".
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "kube/config.h"

namespace agentproxy::kube::testing {

class TroubledApiServer {
 public:
  // The request line and headers in, the whole answer out.
  using Answer = std::function<std::string(const std::string& head)>;

  explicit TroubledApiServer(std::string answer)
      : TroubledApiServer([answer = std::move(answer)](const std::string&) { return answer; }) {}
  explicit TroubledApiServer(Answer answer) : answer_(std::move(answer)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TroubledApiServer() {
    stopping_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
    for (int c : clients_) close(c);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // A client configuration that talks to this server.
  kube::Config config() const {
    kube::Config config;
    config.server = url();
    config.source = "test";
    return config;
  }
  // A whole answer with a JSON body, e.g. jsonAnswer("410 Gone", status), one per connection.
  static std::string jsonAnswer(const std::string& status, const std::string& body) {
    return "HTTP/1.1 " + status + "\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  }
  int requests() const { return requests_; }

 private:
  void serve() {
    while (!stopping_) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      clients_.push_back(c);
      std::string head;
      char buffer[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = read(c, buffer, sizeof buffer);
        if (n <= 0) break;
        head.append(buffer, static_cast<size_t>(n));
      }
      ++requests_;
      const std::string answer = answer_(head);
      if (!answer.empty()) {
        ssize_t ignored = write(c, answer.data(), answer.size());
        (void)ignored;
      }
    }
  }

  Answer answer_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> requests_{0};
  std::atomic<bool> stopping_{false};
  std::vector<int> clients_;
  std::thread thread_;
};

}  // namespace agentproxy::kube::testing
