// cpp-agent: a health-check agent written with gRPC C++ (C-core), the way a C++ agent dials its
// management plane. Proxy settings and CAs come only from where C-core reads them
// (grpc_proxy/https_proxy/http_proxy and no_grpc_proxy/no_proxy; GRPC_DEFAULT_SSL_ROOTS_FILE_PATH,
// else the roots gRPC was built with): nothing here knows about proxies.
//
//   cpp-agent --target HOST:PORT [--server-name NAME] [--timeout-ms 5000]
//
// Prints one JSON line {runtime, ok, status, detail} and exits 0 when gRPC works end to end
// (OK, UNIMPLEMENTED, UNAUTHENTICATED or PERMISSION_DENIED), 1 when it does not, 64 on a
// usage error.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

namespace {

const char* codeName(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < static_cast<int>(std::size(kNames)) ? kNames[i] : "UNKNOWN";
}

std::string jsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

int usage() {
  std::cerr << "usage: cpp-agent --target HOST:PORT [--server-name NAME] [--timeout-ms 5000]\n";
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  std::string target;
  std::string serverName;
  long timeoutMs = 5000;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--target" && i + 1 < argc) {
      target = argv[++i];
    } else if (arg == "--server-name" && i + 1 < argc) {
      serverName = argv[++i];
    } else if (arg == "--timeout-ms" && i + 1 < argc) {
      char* end = nullptr;
      timeoutMs = std::strtol(argv[++i], &end, 10);
      if (end == nullptr || *end != '\0' || timeoutMs <= 0) return usage();
    } else {
      return usage();
    }
  }
  if (target.empty()) return usage();

  grpc::ChannelArguments args;
  if (!serverName.empty()) args.SetSslTargetNameOverride(serverName);
  // SslCredentialsOptions without roots: C-core's default roots.
  auto channel =
      grpc::CreateCustomChannel(target, grpc::SslCredentials(grpc::SslCredentialsOptions()), args);
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeoutMs));
  grpc::CompletionQueue cq;
  // HealthCheckRequest{service: ""} serialises to zero bytes.
  grpc::Slice empty;
  grpc::ByteBuffer request(&empty, 1);
  auto call = stub.PrepareUnaryCall(&context, "/grpc.health.v1.Health/Check", request, &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool done = false;
  cq.Next(&tag, &done);
  cq.Shutdown();
  while (cq.Next(&tag, &done)) {
  }

  const grpc::StatusCode code = status.error_code();
  const bool ok = code == grpc::StatusCode::OK || code == grpc::StatusCode::UNIMPLEMENTED ||
                  code == grpc::StatusCode::UNAUTHENTICATED ||
                  code == grpc::StatusCode::PERMISSION_DENIED;
  std::string detail = status.error_message();
  if (status.ok()) {
    std::vector<grpc::Slice> slices;
    std::string bytes;
    if (response.Dump(&slices).ok()) {
      for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
    // HealthCheckResponse: field 1 (status), varint: 0x08 <value>.
    const int serving =
        bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x08 ? bytes[1] : 0;
    detail = std::string("serving status ") + (serving == 1 ? "SERVING" : std::to_string(serving));
  }
  std::cout << "{\"runtime\":\"cpp\",\"ok\":" << (ok ? "true" : "false")
            << ",\"status\":" << jsonString(codeName(code)) << ",\"detail\":" << jsonString(detail)
            << "}" << std::endl;
  return ok ? 0 : 1;
}
