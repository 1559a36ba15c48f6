#include "probe/grpc_check.h"

#include <grpc/grpc.h>
#include <grpc/support/log.h>
#include <grpcpp/channel.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "encoding/encoding.h"

namespace agentproxy::probe {
namespace {

std::string codeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::OK: return "OK";
    case grpc::CANCELLED: return "CANCELLED";
    case grpc::UNKNOWN: return "UNKNOWN";
    case grpc::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::NOT_FOUND: return "NOT_FOUND";
    case grpc::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::ABORTED: return "ABORTED";
    case grpc::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::INTERNAL: return "INTERNAL";
    case grpc::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::DATA_LOSS: return "DATA_LOSS";
    case grpc::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "CODE_" + std::to_string(static_cast<int>(code));
  }
}

// Once per process: gRPC C-core logs handshake and connection failures to stderr on its own.
// The probe reports those failures itself, and a library's log line is no place to risk a
// proxy URL, so its logging is switched off. And gRPC is initialised for good: every channel
// and completion queue holds a reference to the library, and dropping the last one shuts
// gRPC down (joining its executor, timer and event-engine threads), only for the next probe to
// start it all again. One reference that is never dropped keeps it up; exit ends its threads.
void prepareGrpc() {
  static std::once_flag once;
  std::call_once(once, [] {
    gpr_set_log_function([](gpr_log_func_args*) {});
    grpc_init();
  });
}

// Closing a channel (its HTTP/2 connection, TLS session and subchannel) runs gRPC's teardown
// on the thread that drops the last reference: a few milliseconds, none of which the probe's
// result depends on. Channels whose call is over are closed here, on one background thread,
// while the probe goes on (only for a process about to exit: see checkGrpc()).
class ChannelCloser {
 public:
  // Never destroyed: its thread waits for work until the process ends.
  static ChannelCloser& instance() {
    static ChannelCloser* closer = new ChannelCloser;
    return *closer;
  }

  void close(std::shared_ptr<grpc::Channel> channel) {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.push_back(std::move(channel));
    if (!started_) {
      std::thread([this] { run(); }).detach();
      started_ = true;
    }
    work_.notify_one();
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      work_.wait(lock, [&] { return !pending_.empty(); });
      auto channel = std::move(pending_.front());
      pending_.pop_front();
      lock.unlock();
      channel.reset();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable work_;
  std::deque<std::shared_ptr<grpc::Channel>> pending_;
  bool started_ = false;
};

GrpcCheckResult checkGrpcOnce(const std::string& proxyUrl, const TargetAddress& target,
                              const std::string& serverName, const std::string& rootsPem,
                              Deadline deadline, bool closeInBackground) {
  GrpcCheckResult result;
  auto start = Clock::now();
  prepareGrpc();
  try {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = rootsPem;
    grpc::ChannelArguments args;
    // Credentials go in a Proxy-Authorization header of our own, not in the URL: gRPC C-core
    // percent-decodes the URL's authority before it splits it at '@', so a password holding
    // '@' would make it drop the proxy and go direct (docs/runtimes.md), and the probe would
    // report a proxy that works as one that does not.
    auto proxy = parseProxyUrl(proxyUrl);
    if (proxy.hasCredentials()) {
      args.SetString(GRPC_ARG_HTTP_PROXY, proxy.scheme + "://" + proxy.hostPort());
      args.SetString("grpc.http_connect_headers",
                     "Proxy-Authorization:Basic " +
                         encoding::base64Encode(proxy.username + ":" + proxy.password));
    } else {
      args.SetString(GRPC_ARG_HTTP_PROXY, proxyUrl);
    }
    // A fresh connection per probe: no subchannel shared with an earlier probe's channel.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
    if (!serverName.empty() && serverName != target.host) {
      args.SetSslTargetNameOverride(serverName);
    }
    std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
        "dns:///" + target.hostPort(), grpc::SslCredentials(ssl), args);
    {
      grpc::GenericStub stub(channel);
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + (deadline - Clock::now()));
      // An empty HealthCheckRequest (service "") serialises to zero bytes.
      grpc::Slice empty;
      grpc::ByteBuffer request(&empty, 1);
      grpc::ByteBuffer response;
      grpc::CompletionQueue queue;
      auto call = stub.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check", request, &queue);
      call->StartCall();
      grpc::Status status;
      call->Finish(&response, &status, reinterpret_cast<void*>(1));
      void* tag = nullptr;
      bool ok = false;
      queue.Next(&tag, &ok);
      queue.Shutdown();
      while (queue.Next(&tag, &ok)) {
      }
      auto code = status.error_code();
      result.works = code == grpc::OK || code == grpc::UNIMPLEMENTED ||
                     code == grpc::UNAUTHENTICATED || code == grpc::PERMISSION_DENIED;
      result.status = codeName(code);
      if (code != grpc::OK && !status.error_message().empty()) {
        result.status += ": " + status.error_message();
      }
    }  // the call, its context, queue and stub are gone: `channel` holds the last reference
    result.ms = elapsedMs(start);
    if (closeInBackground) ChannelCloser::instance().close(std::move(channel));
  } catch (const std::exception& e) {
    result.status = std::string("INTERNAL: the probe's gRPC client failed: ") + e.what();
    result.ms = elapsedMs(start);
  }
  return result;
}

}  // namespace

GrpcCheckResult checkGrpc(const std::string& proxyUrl, const TargetAddress& target,
                          const std::string& serverName, const std::string& rootsPem,
                          Deadline deadline, bool closeInBackground) {
  auto start = Clock::now();
  auto result = checkGrpcOnce(proxyUrl, target, serverName, rootsPem, deadline, closeInBackground);
  // An agent whose connection is closed reconnects: one connection a proxy closed at once
  // (UNAVAILABLE) is tried again on a new channel while the deadline allows, so a working path
  // is not reported broken for one close. A broken path (Squid's bump) fails again as fast.
  if (!result.works && result.status.rfind("UNAVAILABLE", 0) == 0 &&
      Clock::now() + std::chrono::milliseconds(200) < deadline) {
    result = checkGrpcOnce(proxyUrl, target, serverName, rootsPem, deadline, closeInBackground);
    result.ms = elapsedMs(start);
  }
  return result;
}

}  // namespace agentproxy::probe
