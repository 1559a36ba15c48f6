#!/usr/bin/python3
"""python-agent: a health-check agent written with grpcio (gRPC C-core), the way a Python agent
dials its management plane. Proxy settings and CAs come only from where C-core reads them
(grpc_proxy/https_proxy/http_proxy and no_grpc_proxy/no_proxy; GRPC_DEFAULT_SSL_ROOTS_FILE_PATH,
else grpcio's default roots): nothing here knows about proxies.

    agent.py --target HOST:PORT [--server-name NAME] [--timeout-ms 5000]

Prints one JSON line {runtime, ok, status, detail} and exits 0 when gRPC works end to end (OK,
UNIMPLEMENTED, UNAUTHENTICATED or PERMISSION_DENIED), 1 when it does not, 64 on a usage error.
"""
import argparse
import json
import sys

import grpc

WORKS = {grpc.StatusCode.OK, grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.UNAUTHENTICATED,
         grpc.StatusCode.PERMISSION_DENIED}


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write("usage: agent.py --target HOST:PORT [--server-name NAME]"
                         " [--timeout-ms 5000]: " + message + "\n")
        sys.exit(64)


def main():
    parser = _Parser(add_help=False)
    parser.add_argument("--target", required=True)
    parser.add_argument("--server-name")
    parser.add_argument("--timeout-ms", type=int, default=5000)
    args = parser.parse_args()
    options = []
    if args.server_name:
        options.append(("grpc.ssl_target_name_override", args.server_name))
    # ssl_channel_credentials() without roots: C-core's default roots.
    with grpc.secure_channel(args.target, grpc.ssl_channel_credentials(), options) as channel:
        # HealthCheckRequest{service: ""} is zero bytes; HealthCheckResponse is field 1
        # (status, varint): 0x08 <value>.
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=lambda request: request,
                                    response_deserializer=lambda response: response)
        try:
            response = check(b"", timeout=args.timeout_ms / 1000.0)
            serving = response[1] if len(response) >= 2 and response[0] == 0x08 else 0
            ok, status = True, "OK"
            detail = "serving status " + ("SERVING" if serving == 1 else str(serving))
        except grpc.RpcError as e:
            ok, status, detail = e.code() in WORKS, e.code().name, e.details() or ""
    print(json.dumps({"runtime": "python", "ok": ok, "status": status, "detail": detail}),
          flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
