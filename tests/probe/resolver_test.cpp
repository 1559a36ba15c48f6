// Name resolution with a deadline, against a DNS server of the test's own on 127.0.0.1 that
// answers, refuses to know the name, or never answers.
#include "probe/resolver.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>

namespace agentproxy::probe {
namespace {

using ::testing::HasSubstr;

enum class DnsBehaviour { kAnswerLoopback, kNoSuchName, kSilent };

// A UDP DNS server on 127.0.0.1: A queries get 127.0.0.1 (or NXDOMAIN), AAAA get no data.
class FakeDns {
 public:
  explicit FakeDns(DnsBehaviour behaviour) : behaviour_(behaviour) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("FakeDns: bind failed");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeDns() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string servers() const { return "127.0.0.1:" + std::to_string(port_); }
  int queries() const { return queries_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      unsigned char q[512];
      sockaddr_in from{};
      socklen_t fromLen = sizeof from;
      ssize_t n = ::recvfrom(fd_, q, sizeof q, 0, reinterpret_cast<sockaddr*>(&from), &fromLen);
      if (n < 12) continue;
      ++queries_;
      if (behaviour_ == DnsBehaviour::kSilent) continue;
      size_t end = 12;  // the question: labels, then type and class
      while (end < static_cast<size_t>(n) && q[end] != 0) end += q[end] + 1;
      end += 5;
      if (end > static_cast<size_t>(n)) continue;
      uint16_t type = static_cast<uint16_t>(q[end - 4] << 8 | q[end - 3]);
      bool answer = behaviour_ == DnsBehaviour::kAnswerLoopback && type == 1;
      std::string r(reinterpret_cast<char*>(q), 2);  // id
      r += behaviour_ == DnsBehaviour::kNoSuchName ? "\x81\x83" : "\x81\x80";
      r += std::string("\x00\x01\x00", 3) + (answer ? '\x01' : '\x00') + std::string(4, '\0');
      r.append(reinterpret_cast<char*>(q) + 12, end - 12);
      if (answer) {
        r += std::string("\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x7f\x00\x00\x01", 16);
      }
      ::sendto(fd_, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), fromLen);
    }
  }

  DnsBehaviour behaviour_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::thread thread_;
};

size_t countEntries(const char* dir) {
  size_t n = 0;
  if (DIR* d = ::opendir(dir)) {
    while (::readdir(d)) ++n;
    ::closedir(d);
  }
  return n;
}

Deadline in(std::chrono::milliseconds ms) { return Clock::now() + ms; }

TEST(ResolveHost, IpLiteralsNeedNoLookup) {
  auto v4 = resolveHost("127.0.0.1", 3128, in(std::chrono::seconds(1)), {"127.0.0.1:1"});
  ASSERT_EQ(v4.size(), 1u);
  EXPECT_EQ(v4[0].family, AF_INET);
  auto v6 = resolveHost("::1", 443, in(std::chrono::seconds(1)), {"127.0.0.1:1"});
  ASSERT_EQ(v6.size(), 1u);
  EXPECT_EQ(v6[0].family, AF_INET6);
}

TEST(ResolveHost, ANameResolvesThroughTheServer) {
  FakeDns dns(DnsBehaviour::kAnswerLoopback);
  auto addresses = resolveHost("proxy.corp.test", 3128, in(std::chrono::seconds(5)),
                               {dns.servers()});
  ASSERT_FALSE(addresses.empty());
  const auto* sin = reinterpret_cast<const sockaddr_in*>(&addresses[0].address);
  EXPECT_EQ(addresses[0].family, AF_INET);
  EXPECT_EQ(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
  EXPECT_EQ(ntohs(sin->sin_port), 3128);
}

TEST(ResolveHost, ANameThatDoesNotExistSaysSo) {
  FakeDns dns(DnsBehaviour::kNoSuchName);
  try {
    resolveHost("no-such-proxy.corp.test", 3128, in(std::chrono::seconds(5)), {dns.servers()});
    FAIL() << "NXDOMAIN must throw";
  } catch (const IoError& e) {
    EXPECT_THAT(e.what(), HasSubstr("the name no-such-proxy.corp.test does not resolve"));
  }
}

// The old resolver left a detached thread blocked in getaddrinfo() and its result in memory on
// every timeout; this one cancels the lookup: no thread and no socket survives the call.
TEST(ResolveHost, ASilentServerTimesOutAtTheDeadlineLeavingNothingBehind) {
  FakeDns dns(DnsBehaviour::kSilent);
  size_t threadsBefore = countEntries("/proc/self/task");
  size_t fdsBefore = countEntries("/proc/self/fd");
  for (int i = 0; i < 3; ++i) {
    EXPECT_THROW(resolveHost("slow.corp.test", 3128, in(std::chrono::milliseconds(300)),
                             {dns.servers()}),
                 TimeoutError);
  }
  EXPECT_GE(dns.queries(), 3);
  EXPECT_EQ(countEntries("/proc/self/task"), threadsBefore);
  EXPECT_EQ(countEntries("/proc/self/fd"), fdsBefore);
}

TEST(ResolveHost, TheTimeoutMessageNamesTheHost) {
  FakeDns dns(DnsBehaviour::kSilent);
  try {
    resolveHost("slow.corp.test", 3128, in(std::chrono::milliseconds(100)), {dns.servers()});
    FAIL() << "a silent server must time out";
  } catch (const TimeoutError& e) {
    EXPECT_THAT(e.what(), HasSubstr("timed out resolving slow.corp.test"));
  }
}

}  // namespace
}  // namespace agentproxy::probe
