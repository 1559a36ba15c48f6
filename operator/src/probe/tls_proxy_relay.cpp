#include "probe/tls_proxy_relay.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <thread>
#include <vector>

namespace agentproxy::probe {

struct TlsProxyRelay::State {
  ProxyUrl proxy;
  std::string rootsPem;
  Deadline deadline;
  int listenFd = -1;
  int stopFd = -1;  // eventfd: readable once the relay is stopping
  uint16_t port = 0;
  std::thread acceptor;
  std::mutex mutex;
  std::vector<std::thread> connections;

  int remainingMs() const {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return left.count() < 0 ? 0 : static_cast<int>(left.count());
  }

  void acceptLoop() {
    for (;;) {
      pollfd fds[2] = {{listenFd, POLLIN, 0}, {stopFd, POLLIN, 0}};
      int rc = ::poll(fds, 2, remainingMs());
      if (rc <= 0 || (fds[1].revents & POLLIN)) return;
      int client = ::accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      std::lock_guard lock(mutex);
      connections.emplace_back([this, client] { relay(client); });
    }
  }

  // Carries bytes both ways between the local client and TLS to the proxy until either side
  // closes, the deadline passes or the relay stops.
  void relay(int client) {
    try {
      auto tcp = TcpStream::connect(proxy.host, proxy.port, deadline);
      TlsStream tls(*tcp, TlsClientOptions{isIpLiteral(proxy.host) ? "" : proxy.host, {}},
                    deadline);
      if (!tls.verifies(rootsPem, proxy.host)) throw IoError("proxy certificate rejected");
      char buf[16384];
      for (;;) {
        if (tls.pending() == 0) {
          pollfd fds[3] = {{client, POLLIN, 0}, {tls.fd(), POLLIN, 0}, {stopFd, POLLIN, 0}};
          int rc = ::poll(fds, 3, remainingMs());
          if (rc <= 0 || (fds[2].revents & POLLIN)) break;
          if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n = ::recv(client, buf, sizeof buf, 0);
            if (n <= 0) break;
            tls.writeAll(std::string_view(buf, static_cast<size_t>(n)), deadline);
          }
          if (!(fds[1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        }
        size_t n = tls.readSome(buf, sizeof buf, deadline);
        if (n == 0 || ::send(client, buf, n, MSG_NOSIGNAL) != static_cast<ssize_t>(n)) break;
      }
    } catch (const std::exception&) {
      // gRPC sees the connection close and reports UNAVAILABLE; the raw probe says why.
    }
    ::close(client);
  }
};

TlsProxyRelay::TlsProxyRelay(const ProxyUrl& proxy, std::string rootsPem, Deadline deadline)
    : state_(std::make_unique<State>()) {
  state_->proxy = proxy;
  state_->rootsPem = std::move(rootsPem);
  state_->deadline = deadline;
  state_->listenFd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (state_->listenFd < 0 ||
      ::bind(state_->listenFd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(state_->listenFd, 64) != 0 ||
      ::getsockname(state_->listenFd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw IoError("cannot open the loopback relay for the https:// proxy");
  }
  state_->port = ntohs(addr.sin_port);
  state_->stopFd = ::eventfd(0, EFD_CLOEXEC);
  state_->acceptor = std::thread([s = state_.get()] { s->acceptLoop(); });
}

TlsProxyRelay::~TlsProxyRelay() {
  uint64_t one = 1;
  (void)!::write(state_->stopFd, &one, sizeof one);
  state_->acceptor.join();
  {
    std::lock_guard lock(state_->mutex);
    for (auto& t : state_->connections) t.join();
  }
  ::close(state_->listenFd);
  ::close(state_->stopFd);
}

std::string TlsProxyRelay::proxyUrl() const {
  ProxyUrl local = state_->proxy;
  local.scheme = "http";
  local.host = "127.0.0.1";
  local.port = state_->port;
  return local.withCredentials();
}

}  // namespace agentproxy::probe
