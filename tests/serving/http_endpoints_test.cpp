// The health and metrics endpoints as the kubelet and Prometheus reach them: on IPv4, on IPv6
// ([::1]) and on all interfaces (dual-stack, as the webhook), over real sockets.
#include "serving/http_endpoints.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

#include "serving/listen_address.h"

namespace agentproxy::serving {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// The whole answer to `request` sent to host:port over a fresh connection ("" when it cannot
// connect).
std::string exchange(const std::string& host, uint16_t port, const std::string& request) {
  bool v6 = host.find(':') != std::string::npos;
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&storage);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    inet_pton(AF_INET6, host.c_str(), &a->sin6_addr);
    length = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&storage);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    inet_pton(AF_INET, host.c_str(), &a->sin_addr);
    length = sizeof *a;
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) {
    close(fd);
    return "";
  }
  EXPECT_EQ(write(fd, request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string answer;
  char buffer[4096];
  ssize_t n = 0;
  while ((n = read(fd, buffer, sizeof buffer)) > 0) answer.append(buffer, static_cast<size_t>(n));
  close(fd);
  return answer;
}

std::string get(const std::string& host, uint16_t port, const std::string& path) {
  return exchange(host, port, "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

std::map<std::string, HttpEndpoints::Handler> routes() {
  return {{"/healthz", [] { return HttpResponse{200, "text/plain", "ok\n"}; }},
          {"/metrics", [] { return HttpResponse{200, "text/plain; version=0.0.4", "up 1\n"}; }},
          {"/broken", []() -> HttpResponse { throw std::runtime_error("handler failed"); }}};
}

bool kernelHasIpv6() {
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

TEST(HttpEndpoints, ServesOnIpv6Loopback) {
  ASSERT_TRUE(kernelHasIpv6()) << "this machine has no IPv6 loopback";
  HttpEndpoints endpoints("[::1]:0", routes());
  ASSERT_NE(endpoints.port(), 0);
  auto answer = get("::1", endpoints.port(), "/healthz");
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(answer, HasSubstr("\r\n\r\nok\n"));
  EXPECT_EQ(get("127.0.0.1", endpoints.port(), "/healthz"), "") << "[::1] is IPv6 only";
}

TEST(HttpEndpoints, AllInterfacesIsDualStack) {
  ASSERT_TRUE(kernelHasIpv6()) << "this machine has no IPv6 loopback";
  HttpEndpoints endpoints(":0", routes());
  EXPECT_THAT(get("::1", endpoints.port(), "/metrics"), HasSubstr("\r\n\r\nup 1\n"));
  EXPECT_THAT(get("127.0.0.1", endpoints.port(), "/metrics"), HasSubstr("\r\n\r\nup 1\n"));
}

TEST(HttpEndpoints, Ipv4AddressAndTheAnswersForWhatIsNotServed) {
  HttpEndpoints endpoints("127.0.0.1:0", routes());
  auto port = endpoints.port();
  EXPECT_THAT(get("127.0.0.1", port, "/healthz?verbose"), StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(get("127.0.0.1", port, "/nothing"), StartsWith("HTTP/1.1 404"));
  auto post = exchange("127.0.0.1", port,
                       "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                       "Connection: close\r\n\r\n");
  EXPECT_THAT(post, StartsWith("HTTP/1.1 405"));
  EXPECT_THAT(post, HasSubstr("Allow: GET, HEAD"));
  auto broken = get("127.0.0.1", port, "/broken");
  EXPECT_THAT(broken, StartsWith("HTTP/1.1 500"));
  EXPECT_THAT(broken, HasSubstr("handler failed"));
  // Keep-alive: two requests on one connection.
  auto both = exchange("127.0.0.1", port,
                       "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(both, HasSubstr("ok\n"));
  EXPECT_THAT(both, HasSubstr("up 1\n"));
}

TEST(HttpEndpoints, ABadAddressSaysWhatIsWrong) {
  auto reason = [](const std::string& address) {
    try {
      HttpEndpoints endpoints(address, routes());
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("listening");
  };
  EXPECT_THAT(reason("8081"), HasSubstr("must be host:port, [ipv6]:port or :port"));
  EXPECT_THAT(reason("::1:8081"), HasSubstr("write an IPv6 host in brackets, [::1]:8081"));
  EXPECT_THAT(reason(":99999"), HasSubstr("has a bad port"));
  HttpEndpoints taken("127.0.0.1:0", routes());
  EXPECT_THAT(reason("127.0.0.1:" + std::to_string(taken.port())), HasSubstr("cannot listen on"));
}

TEST(ListenAddress, ParsesEachForm) {
  auto a = parseListenAddress("[::]:8081", "health");
  EXPECT_EQ(a.host, "::");
  EXPECT_EQ(a.port, 8081);
  EXPECT_EQ(parseListenAddress(":8080", "metrics").host, "");
  EXPECT_EQ(parseListenAddress("127.0.0.1:9443", "webhook").host, "127.0.0.1");
  try {
    parseListenAddress("localhost", "health");
    FAIL() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("health address \"localhost\""));
  }
}

}  // namespace
}  // namespace agentproxy::serving
