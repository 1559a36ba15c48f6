#include "serving/http_endpoints.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <optional>
#include <thread>

#include "serving/tcp_listener.h"

namespace agentproxy::serving {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;

constexpr std::chrono::seconds kReadTimeout{10};
constexpr std::size_t kHeaderLimit = 8 * 1024;

using Routes = std::map<std::string, HttpEndpoints::Handler>;

// One connection: request after request until the client closes, an error or the deadline.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const Routes& routes) : stream_(std::move(socket)), routes_(routes) {}

  void read() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(kHeaderLimit);
    stream_.expires_after(kReadTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](const ErrorCode& ec, std::size_t) {
                       if (!ec) self->respond();
                     });
  }

 private:
  void respond() {
    const auto& request = parser_->get();
    std::string_view target(request.target().data(), request.target().size());
    std::string path(target.substr(0, target.find('?')));
    HttpResponse answer;
    auto route = routes_.find(path);
    if (route == routes_.end()) {
      answer = {404, "text/plain; charset=utf-8", "not found\n"};
    } else if (request.method() != http::verb::get && request.method() != http::verb::head) {
      answer = {405, "text/plain; charset=utf-8", "method not allowed\n"};
    } else {
      try {
        answer = route->second();
      } catch (const std::exception& e) {
        answer = {500, "text/plain; charset=utf-8", std::string(e.what()) + "\n"};
      }
    }
    response_.emplace();
    response_->version(11);
    response_->result(static_cast<unsigned>(answer.status));
    response_->set(http::field::content_type, answer.contentType);
    if (answer.status == 405) response_->set(http::field::allow, "GET, HEAD");
    response_->body() = std::move(answer.body);
    response_->keep_alive(request.keep_alive());
    response_->prepare_payload();
    if (request.method() == http::verb::head) response_->body().clear();
    stream_.expires_after(kReadTimeout);
    http::async_write(stream_, *response_,
                      [self = shared_from_this()](const ErrorCode& ec, std::size_t) {
                        if (ec) return;
                        bool keepAlive = self->response_->keep_alive();
                        self->response_.reset();
                        if (keepAlive) return self->read();
                        ErrorCode ignored;
                        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                      });
  }

  beast::tcp_stream stream_;
  const Routes& routes_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
};

}  // namespace

struct HttpEndpoints::Impl {
  Routes routes;
  asio::io_context io{1};
  std::unique_ptr<tcp::acceptor> acceptor;
  uint16_t port = 0;
  std::thread thread;

  void accept() {
    acceptor->async_accept([this](const ErrorCode& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        try {
          std::make_shared<Session>(std::move(socket), routes)->read();
        } catch (const std::exception&) {
          // no memory for this connection: it is closed, the next may fare better
        }
      }
      accept();
    });
  }
};

HttpEndpoints::HttpEndpoints(const std::string& address, std::map<std::string, Handler> routes)
    : impl_(std::make_unique<Impl>()) {
  impl_->routes = std::move(routes);
  impl_->acceptor = listenOn(address, "listen", impl_->io);
  impl_->port = impl_->acceptor->local_endpoint().port();
  impl_->accept();
  impl_->thread = std::thread([io = &impl_->io] {
    for (;;) {
      try {
        io->run();
        return;
      } catch (const std::exception&) {
        // the connection whose handler threw is gone; keep serving the others
      }
    }
  });
}

HttpEndpoints::~HttpEndpoints() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  // Destroying the acceptor and then the context (Impl's members, in reverse order) closes
  // every connection.
  impl_->acceptor.reset();
}

uint16_t HttpEndpoints::port() const { return impl_->port; }

}  // namespace agentproxy::serving
