// The cpprestsdk side of webhook_bench_server: the same routing and handler as AdmissionServer,
// on cpprestsdk's http_listener over HTTPS, set up as FIELD-NOTES.md advises (a pool of
// `threads` threads made before any cpprestsdk object, extract_vector() for the body).
#include <cpprest/http_listener.h>
#include <pplx/threadpool.h>
#include <signal.h>

#include <boost/asio/ssl.hpp>
#include <string>
#include <vector>

#include "webhook/admission_server.h"

using agentproxy::webhook::AdmissionHttpResponse;
using agentproxy::webhook::AdmissionServer;
using web::http::http_request;
using web::http::methods;

void runCpprestListener(uint16_t port, const std::string& certFile, const std::string& keyFile,
                        unsigned threads, const AdmissionServer::Handler& handler,
                        const sigset_t& stopSignals) {
  crossplat::threadpool::initialize_with_threads(threads);
  web::http::experimental::listener::http_listener_config config;
  config.set_ssl_context_callback([&](boost::asio::ssl::context& context) {
    context.set_options(boost::asio::ssl::context::default_workarounds |
                        boost::asio::ssl::context::no_sslv2 | boost::asio::ssl::context::no_sslv3 |
                        boost::asio::ssl::context::no_tlsv1 |
                        boost::asio::ssl::context::no_tlsv1_1);
    context.use_certificate_chain_file(certFile);
    context.use_private_key_file(keyFile, boost::asio::ssl::context::pem);
  });
  web::http::experimental::listener::http_listener listener(
      "https://127.0.0.1:" + std::to_string(port), config);
  listener.support([&handler](http_request request) {
    auto reply = [request](int status, const std::string& body) mutable {
      request.reply(static_cast<web::http::status_code>(status), body, "application/json");
    };
    if (request.relative_uri().path() != AdmissionServer::kPath) {
      return reply(404, R"({"error":"no such path"})");
    }
    if (request.method() != methods::POST) return reply(405, R"({"error":"method not allowed"})");
    request.extract_vector().then([request, &handler](std::vector<unsigned char> body) mutable {
      AdmissionHttpResponse answer;
      try {
        answer = handler(std::string_view(reinterpret_cast<const char*>(body.data()), body.size()));
      } catch (...) {
        answer = {500, R"({"error":"handler failed"})"};
      }
      request.reply(static_cast<web::http::status_code>(answer.status), answer.body,
                    "application/json");
    });
  });
  listener.open().wait();
  std::printf("listening on %u\n", port);
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stopSignals, &signal);
  listener.close().wait();
}
