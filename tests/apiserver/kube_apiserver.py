#!/usr/bin/python3
"""A test imitation of kube-apiserver (never shipped) for the REAL kubectl and helm.

Launcher contract (for C++ GoogleTest fixtures and Python tests alike):

    /usr/bin/python3 tests/apiserver/kube_apiserver.py --dir DIR [--port 0]
        [--bookmark-interval SECONDS] [--service NS/NAME=PORT ...] [--verbose]
        [--profile FILE]

  * Listens on 127.0.0.1 only (port 0 = a free port), HTTPS, HTTP/1.1.
  * Writes into DIR: ca.crt (the CA), apiserver.crt/apiserver.key (serving cert,
    SAN IP:127.0.0.1 and DNS:localhost), kubeconfig (cluster "test", user "admin"
    with a bearer token, context "test" current, namespace default), and LAST
    ready.json = {"url": "https://127.0.0.1:PORT", "port": PORT, "token": TOKEN,
    "kubeconfig": "DIR/kubeconfig", "pid": PID}, written atomically (rename) once
    the socket is listening. Wait for ready.json to exist, then read it.
  * Stop it with SIGTERM (or SIGKILL) to the pid; it keeps nothing on disk but DIR.
  * --service maps a webhook clientConfig.service (namespace/name) to 127.0.0.1:PORT;
    the mapping can also be added at run time with POST /_test/services.
  * --profile FILE: every connection's thread runs under cProfile (CPU time of that thread);
    the merged statistics are written to FILE (pstats format) when the server stops.

What it guarantees, what it does not cover: see README.md next to this file; the
modules under kubeapi/ state their own guarantees in their docstrings.
"""
import argparse
import cProfile
import json
import os
import pstats
import secrets
import signal
import ssl
import sys
import threading
import time

sys.dont_write_bytecode = True   # keep the source tree clean of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kubeapi.admission import Admission  # noqa: E402
from kubeapi.certs import make_ca, make_serving_cert  # noqa: E402
from kubeapi.registry import Registry  # noqa: E402
from kubeapi.server import App, Server  # noqa: E402
from kubeapi.store import Store  # noqa: E402


def write_kubeconfig(path, url, ca_path, token):
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "test", "cluster": {"server": url,
                                                  "certificate-authority": ca_path}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin",
                                                  "namespace": "default"}}],
        "current-context": "test"}
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(config, handle, indent=2)
    os.chmod(path, 0o600)


def write_ready(directory, info):
    temporary = os.path.join(directory, "ready.json.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(info, handle)
    os.rename(temporary, os.path.join(directory, "ready.json"))


def build_server(directory, port=0, bookmark_interval=5.0, services=()):
    """Creates certificates and the listening server; returns (server, ready info)."""
    os.makedirs(directory, exist_ok=True)
    ca = make_ca(directory, "ca")
    cert, key = make_serving_cert(directory, "apiserver", ca)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["http/1.1"])
    store, registry = Store(), Registry()
    admission = Admission(store)
    for mapping in services:
        name, local_port = mapping.split("=")
        namespace, service = name.split("/")
        admission.services[(namespace, service)] = int(local_port)
    token = secrets.token_hex(16)
    app = App(store, registry, admission, token, bookmark_interval)
    app.api.bootstrap()
    server = Server(app, context, port)
    url = f"https://{app.address}"
    kubeconfig = os.path.join(directory, "kubeconfig")
    write_kubeconfig(kubeconfig, url, os.path.abspath(ca[0]), token)
    info = {"url": url, "port": server.server_address[1], "token": token,
            "kubeconfig": os.path.abspath(kubeconfig), "pid": os.getpid()}
    return server, info


def profile_connections(server, path):
    """Runs each connection's thread under its own cProfile.Profile, timed by the thread's CPU
    clock (so threads waiting for the GIL or for events do not count), and returns a function
    that writes the merged statistics to `path`."""
    profiles, lock = [], threading.Lock()
    serve = server.process_request_thread

    def profiled(request, client_address):
        profile = cProfile.Profile(time.thread_time_ns, 1e-9)
        with lock:
            profiles.append(profile)
        profile.enable()
        try:
            serve(request, client_address)
        finally:
            profile.disable()

    def dump():
        with lock:
            done = list(profiles)
        stats = None
        for profile in done:
            try:
                stats = pstats.Stats(profile) if stats is None else stats.add(profile)
            except TypeError:   # a profile that recorded nothing yet
                continue
        if stats is not None:
            stats.dump_stats(path)

    server.process_request_thread = profiled
    return dump


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--bookmark-interval", type=float, default=5.0)
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument("--service", action="append", default=[],
                        help="NS/NAME=PORT: where a webhook Service is reached")
    parser.add_argument("--profile", metavar="FILE",
                        help="profile every connection's thread; write pstats to FILE at exit")
    args = parser.parse_args()
    server, info = build_server(os.path.abspath(args.dir), args.port, args.bookmark_interval,
                                args.service)
    server.app.verbose = args.verbose
    dump_profile = profile_connections(server, args.profile) if args.profile else None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    write_ready(os.path.abspath(args.dir), info)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        if dump_profile:
            dump_profile()


if __name__ == "__main__":
    main()
