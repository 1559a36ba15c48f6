#include "probe/resolver.h"

#include <ares.h>
#include <netdb.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>

namespace agentproxy::probe {
namespace {

void initAres() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

std::string inWords(int status, const std::string& host) {
  switch (status) {
    case ARES_ENOTFOUND:
    case ARES_ENONAME:
      return "the name " + host + " does not resolve: no such host";
    case ARES_ENODATA:
      return "the name " + host + " exists but has no address";
    case ARES_ETIMEOUT:
      return "the DNS servers did not answer for " + host;
    case ARES_ESERVFAIL:
      return "the DNS server failed to look up " + host + " (SERVFAIL)";
    case ARES_EREFUSED:
      return "the DNS server refused to look up " + host;
    case ARES_ECONNREFUSED:
      return "the DNS server refused the connection while looking up " + host;
    case ARES_EBADNAME:
    case ARES_EBADSTR:
      return "\"" + host + "\" is not a valid host name";
    default:
      return "cannot resolve " + host + ": " + ares_strerror(status);
  }
}

// IP literals need no lookup.
bool numeric(const std::string& host, uint16_t port, std::vector<ResolvedAddress>& out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  addrinfo* list = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &list) != 0) return false;
  for (addrinfo* a = list; a; a = a->ai_next) {
    ResolvedAddress r;
    std::memcpy(&r.address, a->ai_addr, a->ai_addrlen);
    r.length = a->ai_addrlen;
    r.family = a->ai_family;
    out.push_back(r);
  }
  freeaddrinfo(list);
  return !out.empty();
}

struct Lookup {
  bool done = false;
  int status = ARES_SUCCESS;
  ares_addrinfo* result = nullptr;
};

struct ChannelDeleter {
  void operator()(ares_channel channel) const { ares_destroy(channel); }
};
using Channel = std::unique_ptr<std::remove_pointer_t<ares_channel>, ChannelDeleter>;

int remainingMs(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left.count(), 1 << 30));
}

}  // namespace

std::vector<ResolvedAddress> resolveHost(const std::string& host, uint16_t port,
                                         Deadline deadline, const ResolverOptions& options) {
  std::vector<ResolvedAddress> out;
  if (numeric(host, port, out)) return out;
  initAres();
  Lookup lookup;  // outlives the channel, whose destruction calls back into it
  ares_channel raw = nullptr;
  ares_options ao{};
  // Each server gets the whole remaining time at most; c-ares retries within it.
  ao.timeout = std::max(100, std::min(remainingMs(deadline), 5000));
  ao.tries = 2;
  if (int rc = ares_init_options(&raw, &ao, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
      rc != ARES_SUCCESS) {
    throw IoError(std::string("cannot start the DNS resolver: ") + ares_strerror(rc));
  }
  Channel channel(raw);  // destroyed on every way out: the lookup is cancelled, sockets closed
  if (!options.servers.empty()) {
    if (int rc = ares_set_servers_ports_csv(raw, options.servers.c_str()); rc != ARES_SUCCESS) {
      throw IoError("bad DNS server list \"" + options.servers + "\": " + ares_strerror(rc));
    }
  }
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = ARES_AI_NUMERICSERV;
  ares_getaddrinfo(
      raw, host.c_str(), std::to_string(port).c_str(), &hints,
      [](void* arg, int status, int, ares_addrinfo* result) {
        auto* l = static_cast<Lookup*>(arg);
        if (status == ARES_SUCCESS) {
          l->result = result;
        } else if (result) {
          ares_freeaddrinfo(result);
        }
        l->status = status;
        l->done = true;
      },
      &lookup);
  while (!lookup.done) {
    int left = remainingMs(deadline);
    if (left == 0) {
      channel.reset();  // calls back with ARES_EDESTRUCTION: nothing stays behind
      throw TimeoutError("timed out resolving " + host);
    }
    ares_socket_t sockets[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(raw, sockets, ARES_GETSOCK_MAXNUM);
    pollfd fds[ARES_GETSOCK_MAXNUM];
    nfds_t n = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short events = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
      if (events) fds[n++] = pollfd{sockets[i], events, 0};
    }
    timeval max{left / 1000, (left % 1000) * 1000};
    timeval tv{};
    timeval* next = ares_timeout(raw, &max, &tv);
    int waitMs = static_cast<int>(next->tv_sec * 1000 + (next->tv_usec + 999) / 1000);
    int ready = ::poll(fds, n, std::min(waitMs, left));
    if (ready < 0 && errno != EINTR) {
      throw IoError(std::string("cannot wait for the DNS answer: ") + strerror(errno));
    }
    if (ready <= 0) {
      ares_process_fd(raw, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts and retries
      continue;
    }
    for (nfds_t i = 0; i < n; ++i) {
      ares_process_fd(raw, (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) ? fds[i].fd
                                                                           : ARES_SOCKET_BAD,
                      (fds[i].revents & POLLOUT) ? fds[i].fd : ARES_SOCKET_BAD);
    }
  }
  if (lookup.status != ARES_SUCCESS) throw IoError(inWords(lookup.status, host));
  for (ares_addrinfo_node* node = lookup.result->nodes; node; node = node->ai_next) {
    ResolvedAddress r;
    std::memcpy(&r.address, node->ai_addr, node->ai_addrlen);
    r.length = static_cast<socklen_t>(node->ai_addrlen);
    r.family = node->ai_family;
    out.push_back(r);
  }
  ares_freeaddrinfo(lookup.result);
  if (out.empty()) throw IoError("the name " + host + " exists but has no address");
  return out;
}

}  // namespace agentproxy::probe
