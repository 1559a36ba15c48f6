"""A small HTTPS relay in front of a real kube-apiserver, for the faults the real server cannot
produce on demand: "the next N requests answer 429 (Retry-After S) or 5xx", added latency, and
a connection cut in the network while a watch streams (the real server can end a watch only by
timing it out or by restarting, which also empties its watch cache).
Everything else is forwarded to the real server unchanged (requests, answers, watch streams),
so what a client sees is the real server's behaviour. It is not an imitation of the server:
it holds no state and answers nothing itself but the injected faults.

    fault_relay.py --upstream https://127.0.0.1:6443 --ca CA --cert CRT --key KEY
                   --ready-file FILE

Listens on a free port of 127.0.0.1 (written to FILE as {"port": N, "pid": N} once ready).
Its own endpoints (never forwarded):
    POST /_relay/faults {"failNext": {"count": N, "code": C, "retryAfter": S}, "latencyMs": N,
                         "dropStreams": true}
        -> {"pendingFailures": N, "latencyMs": N, "openStreams": N}
Stops on SIGTERM.
"""
import argparse
import http.client
import http.server
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.parse

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-connection", "content-length", "host"}


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.pending = []  # [(code, retryAfter)]
        self.latency_ms = 0
        self.streams = set()  # the client sockets of watches being relayed

    def update(self, spec):
        with self.lock:
            if spec.get("dropStreams"):
                for sock in list(self.streams):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                self.streams.clear()
            fail = spec.get("failNext")
            if fail:
                self.pending += [(int(fail["code"]), fail.get("retryAfter"))] * int(fail["count"])
            if "latencyMs" in spec:
                self.latency_ms = int(spec["latencyMs"])
            return {"pendingFailures": len(self.pending), "latencyMs": self.latency_ms,
                    "openStreams": len(self.streams)}

    def stream(self, sock, open_):
        with self.lock:
            (self.streams.add if open_ else self.streams.discard)(sock)

    def take(self):
        with self.lock:
            return (self.pending.pop(0) if self.pending else None), self.latency_ms


class Relay(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    faults = None
    upstream = None
    upstream_context = None

    def log_message(self, *args):
        pass

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else None

    def _send(self, code, body, extra=()):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in extra:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self):
        body = self._body()
        if self.path.startswith("/_relay/faults"):
            self._send(200, self.faults.update(json.loads(body or b"{}")))
            return
        fault, latency_ms = self.faults.take()
        if latency_ms:
            time.sleep(latency_ms / 1000)
        if fault:
            code, retry_after = fault
            extra = [("Retry-After", str(retry_after))] if retry_after is not None else []
            self._send(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                              "message": f"injected by the fault relay: {code}",
                              "reason": "TooManyRequests" if code == 429 else "InternalError",
                              "code": code}, extra)
            return
        self._forward(body)

    def _forward(self, body):
        target = urllib.parse.urlsplit(self.upstream)
        connection = http.client.HTTPSConnection(target.hostname, target.port,
                                                 context=self.upstream_context, timeout=3600)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            self.send_response(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in HOP_BY_HOP:
                    self.send_header(key, value)
            length = response.getheader("Content-Length")
            if length is not None:
                self.send_header("Content-Length", length)
                self.end_headers()
                self.wfile.write(response.read())
            else:
                # A stream (a watch): chunk by chunk, as it arrives.
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.faults.stream(self.connection, True)
                try:
                    while True:
                        chunk = response.read1(65536)
                        if not chunk:
                            break
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                finally:
                    self.faults.stream(self.connection, False)
        except (OSError, http.client.HTTPException):
            self.close_connection = True
        finally:
            connection.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--ready-file", required=True)
    args = parser.parse_args()

    Relay.faults = Faults()
    Relay.upstream = args.upstream
    Relay.upstream_context = ssl.create_default_context(cafile=args.ca)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Relay)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    ready = args.ready_file + ".tmp"
    with open(ready, "w", encoding="utf-8") as handle:
        json.dump({"port": server.server_address[1], "pid": os.getpid()}, handle)
    os.replace(ready, args.ready_file)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
