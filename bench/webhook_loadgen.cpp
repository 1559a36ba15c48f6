// webhook_loadgen: a small HTTPS/1.1 load generator (OpenSSL, epoll, keep-alive) for
// bench/webhook_bench.sh, since wrk is not on the machine. It POSTs one body over and over to
// 127.0.0.1:PORT and prints one JSON line of figures.
//
//   closed loop: --mode closed --connections 32 --threads 2: every connection sends its next
//     request as soon as the answer is in; the figure is answers per second.
//   open loop:   --mode open --rate 1000 --connections 16: requests are due at a steady rate
//     whether or not earlier ones are answered; a request waits for a free connection when none
//     is idle, and its latency runs from when it was due (no coordinated omission), to the last
//     byte of the answer.
// Both: --duration S of measurement after --warmup S; connections and TLS handshakes are made
// before the clock starts. A connection the server closes (Connection: close, EOF) is
// reconnected and counted in "reconnects"; answers other than 200 are counted in "non200".
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

struct Options {
  std::string mode = "closed";
  uint16_t port = 0;
  std::string bodyFile;
  std::string path = "/mutate-v1-pod?timeout=10s";
  int connections = 32;
  int threads = 2;
  double rate = 1000;
  double duration = 10;
  double warmup = 2;
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "webhook_loadgen: %s\n", message.c_str());
  std::exit(2);
}

std::string openSslError() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return std::strerror(errno);
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

// A TLS connection made blocking (connect and handshake), then used non-blocking.
struct Connection {
  int fd = -1;
  SSL* ssl = nullptr;
  bool busy = false;
  bool wantsWrite = false;  // EPOLLOUT armed
  size_t written = 0;
  std::string in;
  size_t expected = 0;      // header + body length once the header is in; 0 before
  bool ok = false;          // the answer being read is a 200
  bool closeAfter = false;  // ... with Connection: close
  Clock::time_point start;

  ~Connection() { close(); }
  void close() {
    if (ssl != nullptr) SSL_free(ssl);
    if (fd >= 0) ::close(fd);
    ssl = nullptr;
    fd = -1;
  }
};

void connect(Connection& connection, SSL_CTX* context, uint16_t port) {
  connection.close();
  connection.fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(connection.fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    die("cannot connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno));
  }
  int one = 1;
  setsockopt(connection.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  connection.ssl = SSL_new(context);
  SSL_set_fd(connection.ssl, connection.fd);
  if (SSL_connect(connection.ssl) != 1) die("TLS handshake failed: " + openSslError());
  fcntl(connection.fd, F_SETFL, fcntl(connection.fd, F_GETFL) | O_NONBLOCK);
  connection.in.clear();
  connection.expected = 0;
  connection.written = 0;
  connection.busy = false;
  connection.wantsWrite = false;
}

// Where the figures of one thread go.
struct Tally {
  long answered = 0;     // in the measurement window
  long answeredAll = 0;  // warm-up included: for CPU per request
  long non200 = 0;
  long reconnects = 0;
  std::vector<double> latenciesMs;  // in the measurement window
};

// One epoll loop over some connections. Closed loop: each answer starts the next request.
// Open loop: requests come from a schedule and take an idle connection.
class Loop {
 public:
  Loop(const Options& options, SSL_CTX* context, const std::string& request, int connections)
      : options_(options), context_(context), request_(request) {
    epoll_ = epoll_create1(0);
    for (int i = 0; i < connections; ++i) {
      connections_.push_back(std::make_unique<Connection>());
      connect(*connections_.back(), context_, options_.port);
      watch(*connections_.back());
    }
  }
  ~Loop() { ::close(epoll_); }

  // Closed loop until `end`; answers completed in [from, end) are counted.
  void runClosed(Clock::time_point from, Clock::time_point end) {
    from_ = from;
    end_ = end;
    for (auto& connection : connections_) send(*connection, Clock::now());
    while (Clock::now() < end) poll(100);
  }

  // Open loop: requests due at `rate` from `begin` to `end`; those due from `from` on count.
  void runOpen(Clock::time_point begin, Clock::time_point from, Clock::time_point end) {
    from_ = from;
    end_ = Clock::time_point::max();
    int timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = nullptr;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, timer, &event);
    auto interval = std::chrono::duration_cast<Clock::duration>(Seconds(1.0 / options_.rate));
    Clock::time_point nextDue = begin;
    while (nextDue < end) {
      auto now = Clock::now();
      while (nextDue <= now && nextDue < end) {
        queue_.push_back(nextDue);
        nextDue += interval;
      }
      dispatch();
      // Sleep until the next request is due or an answer comes in.
      auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(nextDue.time_since_epoch());
      itimerspec spec{};
      spec.it_value.tv_sec = static_cast<time_t>(wait.count() / 1'000'000'000);
      spec.it_value.tv_nsec = static_cast<long>(wait.count() % 1'000'000'000);
      timerfd_settime(timer, TFD_TIMER_ABSTIME, &spec, nullptr);
      poll(-1);
      uint64_t expirations;
      [[maybe_unused]] auto n = ::read(timer, &expirations, sizeof(expirations));
    }
    // The stragglers, for at most 5 s.
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while ((!queue_.empty() || anyBusy()) && Clock::now() < deadline) {
      dispatch();
      poll(100);
    }
    ::close(timer);
  }

  Tally& tally() { return tally_; }

 private:
  bool anyBusy() const {
    return std::any_of(connections_.begin(), connections_.end(),
                       [](const auto& c) { return c->busy; });
  }

  void watch(Connection& connection) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = &connection;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, connection.fd, &event);
  }

  void wantWrite(Connection& connection, bool on) {
    if (connection.wantsWrite == on) return;
    connection.wantsWrite = on;
    epoll_event event{};
    event.events = EPOLLIN | (on ? EPOLLOUT : 0u);
    event.data.ptr = &connection;
    epoll_ctl(epoll_, EPOLL_CTL_MOD, connection.fd, &event);
  }

  void dispatch() {
    for (auto& connection : connections_) {
      if (queue_.empty()) return;
      if (connection->busy) continue;
      Clock::time_point due = queue_.front();
      queue_.pop_front();
      send(*connection, due);
    }
  }

  void send(Connection& connection, Clock::time_point start) {
    connection.busy = true;
    connection.start = start;
    connection.written = 0;
    drive(connection);
  }

  void poll(int timeoutMs) {
    epoll_event events[64];
    int n = epoll_wait(epoll_, events, 64, timeoutMs);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr != nullptr) drive(*static_cast<Connection*>(events[i].data.ptr));
    }
  }

  // Writes what is left of the request, then reads until the answer is complete.
  void drive(Connection& connection) {
    if (!connection.busy) {
      // An idle connection: a TLS 1.3 session ticket, or the server closing it.
      char buffer[4096];
      int n = SSL_read(connection.ssl, buffer, sizeof(buffer));
      if (n <= 0 && SSL_get_error(connection.ssl, n) != SSL_ERROR_WANT_READ) reconnect(connection);
      return;
    }
    while (connection.busy) {
      if (connection.written < request_.size()) {
        int n = SSL_write(connection.ssl, request_.data() + connection.written,
                          static_cast<int>(request_.size() - connection.written));
        if (n > 0) {
          connection.written += static_cast<size_t>(n);
          continue;
        }
        int error = SSL_get_error(connection.ssl, n);
        if (error == SSL_ERROR_WANT_WRITE) return wantWrite(connection, true);
        if (error == SSL_ERROR_WANT_READ) return;
        return broken(connection);
      }
      wantWrite(connection, false);
      char buffer[16384];
      int n = SSL_read(connection.ssl, buffer, sizeof(buffer));
      if (n <= 0) {
        int error = SSL_get_error(connection.ssl, n);
        if (error == SSL_ERROR_WANT_READ) return;
        if (error == SSL_ERROR_WANT_WRITE) return wantWrite(connection, true);
        return broken(connection);
      }
      connection.in.append(buffer, static_cast<size_t>(n));
      parse(connection);
    }
  }

  void parse(Connection& connection) {
    if (connection.expected == 0) {
      size_t end = connection.in.find("\r\n\r\n");
      if (end == std::string::npos) return;
      std::string head = connection.in.substr(0, end);
      for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t length = 0;
      if (auto at = head.find("\r\ncontent-length:"); at != std::string::npos) {
        length = std::strtoul(head.c_str() + at + 17, nullptr, 10);
      }
      connection.expected = end + 4 + length;
      connection.ok = head.compare(0, 12, "http/1.1 200") == 0;
      connection.closeAfter = head.find("\r\nconnection: close") != std::string::npos;
    }
    if (connection.in.size() < connection.expected) return;
    connection.in.erase(0, connection.expected);
    connection.expected = 0;
    connection.busy = false;
    auto now = Clock::now();
    ++tally_.answeredAll;
    if (connection.start >= from_ && now < end_) {
      ++tally_.answered;
      tally_.latenciesMs.push_back(
          std::chrono::duration<double, std::milli>(now - connection.start).count());
      if (!connection.ok) ++tally_.non200;
    }
    if (connection.closeAfter) reconnect(connection);
    // Closed loop: the next request at once. Open loop: runOpen() hands out the next one.
    if (end_ != Clock::time_point::max() && now < end_) send(connection, now);
  }

  void broken(Connection& connection) {
    bool wasBusy = connection.busy;
    Clock::time_point start = connection.start;
    reconnect(connection);
    // The request is sent again on the new connection; its latency keeps running.
    if (wasBusy) send(connection, start);
  }

  void reconnect(Connection& connection) {
    ++tally_.reconnects;
    epoll_ctl(epoll_, EPOLL_CTL_DEL, connection.fd, nullptr);
    connect(connection, context_, options_.port);
    watch(connection);
  }

  const Options& options_;
  SSL_CTX* context_;
  const std::string& request_;
  int epoll_ = -1;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::deque<Clock::time_point> queue_;
  Clock::time_point from_;
  Clock::time_point end_;
  Tally tally_;
};

double percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t index = static_cast<size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) die("missing value for " + flag);
    std::string value = argv[++i];
    if (flag == "--mode")
      options.mode = value;
    else if (flag == "--port")
      options.port = static_cast<uint16_t>(std::stoi(value));
    else if (flag == "--body")
      options.bodyFile = value;
    else if (flag == "--path")
      options.path = value;
    else if (flag == "--connections")
      options.connections = std::stoi(value);
    else if (flag == "--threads")
      options.threads = std::stoi(value);
    else if (flag == "--rate")
      options.rate = std::stod(value);
    else if (flag == "--duration")
      options.duration = std::stod(value);
    else if (flag == "--warmup")
      options.warmup = std::stod(value);
    else
      die("unknown flag " + flag);
  }
  if (options.port == 0 || options.bodyFile.empty()) die("--port and --body are required");
  if (options.mode != "closed" && options.mode != "open") die("--mode is closed or open");
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  Options options = parse(argc, argv);
  // OpenSSL writes with write(): a server closing a connection must not end the run.
  signal(SIGPIPE, SIG_IGN);
  std::ifstream file(options.bodyFile, std::ios::binary);
  if (!file) die("cannot read " + options.bodyFile);
  std::stringstream body;
  body << file.rdbuf();
  // What the kube-apiserver sends (k8s.io/apiserver's webhook client).
  std::string request = "POST " + options.path +
                        " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(options.port) +
                        "\r\nUser-Agent: kube-apiserver-admission\r\nAccept: application/json, "
                        "*/*\r\nContent-Type: application/json\r\nAccept-Encoding: gzip\r\n"
                        "Content-Length: " +
                        std::to_string(body.str().size()) + "\r\n\r\n" + body.str();

  SSL_CTX* context = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
  SSL_CTX_set_mode(context, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nullptr);

  auto warmup = std::chrono::duration_cast<Clock::duration>(Seconds(options.warmup));
  auto duration = std::chrono::duration_cast<Clock::duration>(Seconds(options.duration));
  Tally total;
  if (options.mode == "closed") {
    int threads = std::max(1, std::min(options.threads, options.connections));
    std::vector<std::unique_ptr<Loop>> loops;
    for (int i = 0; i < threads; ++i) {
      int share = options.connections / threads + (i < options.connections % threads ? 1 : 0);
      loops.push_back(std::make_unique<Loop>(options, context, request, share));
    }
    auto begin = Clock::now();
    std::vector<std::thread> workers;
    for (auto& loop : loops) {
      workers.emplace_back(
          [&, raw = loop.get()] { raw->runClosed(begin + warmup, begin + warmup + duration); });
    }
    for (auto& worker : workers) worker.join();
    for (auto& loop : loops) {
      Tally& tally = loop->tally();
      total.answered += tally.answered;
      total.answeredAll += tally.answeredAll;
      total.non200 += tally.non200;
      total.reconnects += tally.reconnects;
      total.latenciesMs.insert(total.latenciesMs.end(), tally.latenciesMs.begin(),
                               tally.latenciesMs.end());
    }
  } else {
    Loop loop(options, context, request, options.connections);
    auto begin = Clock::now();
    loop.runOpen(begin, begin + warmup, begin + warmup + duration);
    total = loop.tally();
  }
  std::sort(total.latenciesMs.begin(), total.latenciesMs.end());
  double seconds = options.duration;
  std::printf(
      "{\"mode\":\"%s\",\"connections\":%d,\"seconds\":%.1f,\"answered\":%ld,\"rps\":%.0f,"
      "\"non200\":%ld,\"reconnects\":%ld,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
      "\"p999_ms\":%.3f,\"max_ms\":%.3f,\"request_bytes\":%zu,\"answered_all\":%ld}\n",
      options.mode.c_str(), options.connections, seconds, total.answered,
      static_cast<double>(total.answered) / seconds, total.non200, total.reconnects,
      percentile(total.latenciesMs, 50), percentile(total.latenciesMs, 90),
      percentile(total.latenciesMs, 99), percentile(total.latenciesMs, 99.9),
      total.latenciesMs.empty() ? 0.0 : total.latenciesMs.back(), request.size(),
      total.answeredAll);
  SSL_CTX_free(context);
  return total.non200 == 0 && total.answered > 0 ? 0 : 1;
}
