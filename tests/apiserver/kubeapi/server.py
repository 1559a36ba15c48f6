"""HTTP(S) front end: authentication, routing, content negotiation, watch streaming,
fault injection and the /_test admin endpoints.

Speaks HTTP/1.1 only (ALPN offers http/1.1; Go clients then use it). Watches are
chunked JSON event streams, ended by timeoutSeconds, by a fault
(dropWatches) or when the client goes away. BOOKMARK events are sent every
bookmark_interval seconds to watches that asked for them.

Admin endpoints (same bearer token; never subject to faults, not counted):
  POST /_test/faults    {"dropWatches": true, "compact": true,
                         "failNext": {"count": N, "code": 429|500|..., "retryAfter": S},
                         "latencyMs": N}                 -> current fault state
  GET  /_test/requests  {"total": n, "counts": {"PATCH /apis/...": n}, "verbs": {"patch": n},
                         "seconds": {"PATCH /apis/...": s}, "cpuSeconds": {...},
                         "connections": n, "webhookCalls": {"hook.name": n}}
                        seconds: the wall time the server took to answer (watches excluded),
                        cpuSeconds: the CPU time of the answering thread, per method and path;
                        connections: TLS connections accepted
  DELETE /_test/requests resets the counts
  POST /_test/services  {"namespace": NS, "name": NAME, "port": PORT} maps a Service used by
                        webhook clientConfig.service to 127.0.0.1:PORT
"""
import collections
import http.client
import http.server
import json
import socket
import sys
import threading
import time
import urllib.parse
from http import HTTPStatus

from . import discovery, protobuf, tables
from .api import Api, Request
from .errors import ApiError, bad_request, method_not_allowed, too_many_requests, unauthorized
from .watch import Watch

PUBLIC_PATHS = {"/version", "/healthz", "/livez", "/readyz"}
AGGREGATED_DISCOVERY = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
NOT_FOUND_MESSAGE = "the server could not find the requested resource"


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.failures = collections.deque()   # (code, retry_after) per upcoming request
        self.latency_ms = 0

    def configure(self, spec, store):
        with self.lock:
            fail = spec.get("failNext")
            if fail:
                for _ in range(int(fail.get("count", 1))):
                    self.failures.append((int(fail.get("code", 500)),
                                          int(fail.get("retryAfter", 1))))
            if "latencyMs" in spec:
                self.latency_ms = int(spec["latencyMs"])
        with store.lock:
            if spec.get("compact"):
                store.compact()
            if spec.get("dropWatches"):
                store.drop_watches()
        return self.state()

    def state(self):
        return {"pendingFailures": len(self.failures), "latencyMs": self.latency_ms}

    def before_request(self):
        with self.lock:
            latency = self.latency_ms
            failure = self.failures.popleft() if self.failures else None
        if latency:
            time.sleep(latency / 1000)
        if failure is None:
            return
        code, retry_after = failure
        if code == 429:
            raise too_many_requests(retry_after)
        raise ApiError(code, "InternalError" if code == 500 else "",
                       "Internal error occurred: injected fault" if code == 500
                       else f"injected fault {code}")


class RequestLog:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.verbs = collections.Counter()
        self.seconds = collections.Counter()
        self.cpu_seconds = collections.Counter()
        self.connections = 0

    def connected(self):
        with self.lock:
            self.connections += 1

    def record(self, method, path, verb):
        """Counts a request; returns its key for timed()."""
        key = f"{method} {path}"
        with self.lock:
            self.counts[key] += 1
            self.verbs[verb] += 1
        return key

    def timed(self, key, wall, cpu):
        with self.lock:
            self.seconds[key] += wall
            self.cpu_seconds[key] += cpu

    def snapshot(self, webhook_calls):
        with self.lock:
            return {"total": sum(self.counts.values()), "counts": dict(self.counts),
                    "verbs": dict(self.verbs), "seconds": dict(self.seconds),
                    "cpuSeconds": dict(self.cpu_seconds), "connections": self.connections,
                    "webhookCalls": dict(webhook_calls)}

    def reset(self):
        with self.lock:
            self.counts.clear()
            self.verbs.clear()
            self.seconds.clear()
            self.cpu_seconds.clear()
            self.connections = 0


class App:
    """Everything a request handler needs; one per server."""

    def __init__(self, store, registry, admission, token, bookmark_interval=5.0):
        self.store = store
        self.registry = registry
        self.admission = admission
        self.api = Api(store, registry, admission)
        self.token = token
        self.faults = Faults()
        self.requests = RequestLog()
        self.bookmark_interval = bookmark_interval
        self.address = ""
        self.verbose = False    # log every request to stderr


def _media_types(accept):
    """Parses an Accept header into [(type, {param: value})] in order."""
    result = []
    for item in (accept or "application/json").split(","):
        parts = [p.strip() for p in item.split(";")]
        params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        result.append((parts[0], params))
    return result


def _rendering(accept):
    """'Table', 'PartialObjectMetadata', 'PartialObjectMetadataList' or '' for plain JSON,
    with the meta.k8s.io version asked for."""
    for media, params in _media_types(accept):
        kind = params.get("as", "")
        if media in ("application/json", "*/*") and not kind:
            return "", ""
        if media == "application/json" and params.get("g") == "meta.k8s.io" and kind in (
                "Table", "PartialObjectMetadata", "PartialObjectMetadataList"):
            return kind, f"meta.k8s.io/{params.get('v', 'v1')}"
    raise ApiError(406, "NotAcceptable", "only the following media types are accepted: "
                   "application/json, application/json;as=Table;v=v1;g=meta.k8s.io")


class Headers(dict):
    """Request headers by lower-cased name (the first of repeated ones): what the handlers ask
    of http.client.parse_headers' email.message.Message, which took most of the time it
    took to read a request."""

    def get(self, name, default=None):
        return super().get(name.lower(), default)

    def __getitem__(self, name):
        return super().get(name.lower())


MAX_HEADERS = 100        # as http.client
MAX_HEADER_LINE = 65536


def read_headers(rfile):
    """Reads header lines up to the empty line. Raises http.client.LineTooLong or
    HTTPException like http.client.parse_headers."""
    headers = Headers()
    count = 0
    while True:
        line = rfile.readline(MAX_HEADER_LINE + 1)
        if len(line) > MAX_HEADER_LINE:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            return headers
        count += 1
        if count > MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
        name, _, value = line.decode("iso-8859-1").partition(":")
        headers.setdefault(name.strip().lower(), value.strip())


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver-test"

    def parse_request(self):
        """BaseHTTPRequestHandler.parse_request (Python 3.11) with a lighter header parser."""
        self.command = None
        self.request_version = version = self.default_request_version
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if not words:
            return False
        if len(words) >= 3:
            version = words[-1]
            try:
                if not version.startswith("HTTP/"):
                    raise ValueError
                number = version.split("/", 1)[1].split(".")
                if len(number) != 2:
                    raise ValueError
                number = int(number[0]), int(number[1])
            except (ValueError, IndexError):
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request version ({version!r})")
                return False
            if number >= (1, 1):
                self.close_connection = False
            if number >= (2, 0):
                self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED,
                                f"Invalid HTTP version ({version.split('/', 1)[1]})")
                return False
            self.request_version = version
        if not 2 <= len(words) <= 3:
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request syntax ({requestline!r})")
            return False
        command, path = words[:2]
        if len(words) == 2:
            self.close_connection = True
            if command != "GET":
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad HTTP/0.9 request type ({command!r})")
                return False
        self.command, self.path = command, path
        if self.path.startswith("//"):
            self.path = "/" + self.path.lstrip("/")
        try:
            self.headers = read_headers(self.rfile)
        except http.client.LineTooLong as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long", str(err))
            return False
        except http.client.HTTPException as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers",
                            str(err))
            return False
        connection = self.headers.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        if self.headers.get("Expect", "").lower() == "100-continue" and \
                self.request_version >= "HTTP/1.1" and not self.handle_expect_100():
            return False
        return True

    def log_message(self, format, *args):
        if self.app.verbose:
            sys.stderr.write(f"{self.command} {self.path} content-type="
                             f"{self.headers.get('Content-Type')} accept="
                             f"{self.headers.get('Accept')} -> {format % args}\n")

    @property
    def app(self):
        return self.server.app

    # ---- plumbing ------------------------------------------------------------------------

    def _send(self, code, body, headers=None, content_type="application/json"):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Audit-Id", "00000000-0000-0000-0000-000000000000")
        self.end_headers()
        self.wfile.write(data)

    def _body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            # kubectl create --raw streams its body (RFC 9112 chunked transfer coding).
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailer fields
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()  # the CRLF after each chunk
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self):
        raw = self._body()
        if (self.headers.get("Content-Type") or "").startswith(protobuf.MEDIA_TYPE):
            return protobuf.decode_object(raw)
        try:
            return json.loads(raw) if raw else {}
        except ValueError as err:
            raise bad_request(f"couldn't get version/kind; json parse error: {err}") from None

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        started, cpu_started = time.perf_counter(), time.thread_time()
        self._timed_key = None   # set by _record for counted requests other than watches
        try:
            self._dispatch_timed(method)
        finally:
            if self._timed_key:
                self.app.requests.timed(self._timed_key, time.perf_counter() - started,
                                        time.thread_time() - cpu_started)

    def _dispatch_timed(self, method):
        url = urllib.parse.urlsplit(self.path)
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        path = url.path.rstrip("/") or "/"
        try:
            if path not in PUBLIC_PATHS:
                self._authenticate()
            if path.startswith("/_test/"):
                return self._admin(method, path)
            try:
                self.app.faults.before_request()
            except ApiError:
                self._body()  # consume it, or the next request on this connection breaks
                raise
            self._route(method, path, params)
        except ApiError as err:
            self._send(err.code, err.status, err.headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _authenticate(self):
        header = self.headers.get("Authorization", "")
        if header != f"Bearer {self.app.token}":
            self._body()
            raise unauthorized()

    # ---- admin ---------------------------------------------------------------------------

    def _admin(self, method, path):
        app = self.app
        if path == "/_test/faults" and method == "POST":
            return self._send(200, app.faults.configure(self._json_body(), app.store))
        if path == "/_test/requests" and method == "GET":
            return self._send(200, app.requests.snapshot(app.admission.calls))
        if path == "/_test/requests" and method == "DELETE":
            app.requests.reset()
            return self._send(200, app.requests.snapshot(app.admission.calls))
        if path == "/_test/services" and method == "POST":
            spec = self._json_body()
            try:
                app.admission.services[(spec["namespace"], spec["name"])] = int(spec["port"])
            except (KeyError, TypeError, ValueError):
                raise ApiError(400, "BadRequest", "a service mapping needs namespace, name and an "
                               f"integer port, got {json.dumps(spec)}")
            return self._send(200, {"services": [f"{ns}/{n}={p}" for (ns, n), p in
                                                 app.admission.services.items()]})
        raise ApiError(404, "NotFound", NOT_FOUND_MESSAGE)

    # ---- routing -------------------------------------------------------------------------

    def _route(self, method, path, params):
        app = self.app
        fixed = {"/version": lambda: discovery.VERSION_INFO,
                 "/healthz": None, "/livez": None, "/readyz": None,
                 "/api": lambda: discovery.api_versions(app.address),
                 "/apis": lambda: discovery.api_group_list(app.registry),
                 "/openapi/v3": lambda: discovery.openapi_v3_root(app.registry)}
        if path in ("/api", "/apis") and self._wants_aggregated():
            self._record(method, path, "get")
            return self._send(200, discovery.aggregated(app.registry, path == "/api"),
                              content_type=AGGREGATED_DISCOVERY)
        if path in fixed:
            self._record(method, path, "get")
            if fixed[path] is None:
                return self._send_text(200, "ok")
            return self._send(200, fixed[path]())
        segments = path.strip("/").split("/")
        if segments[0] == "openapi" and len(segments) > 2 and segments[1] == "v3":
            return self._openapi_gv(segments[2:])
        if segments[0] == "api" and len(segments) >= 2:
            return self._route_group(method, "", segments[1], segments[2:], params)
        if segments[0] == "apis" and len(segments) == 2:
            group = discovery.api_group(app.registry, segments[1])
            if group:
                return self._send(200, group)
        if segments[0] == "apis" and len(segments) >= 3:
            return self._route_group(method, segments[1], segments[2], segments[3:], params)
        raise ApiError(404, "NotFound", NOT_FOUND_MESSAGE)

    def _wants_aggregated(self):
        for media, params in _media_types(self.headers.get("Accept")):
            if (media, params.get("g"), params.get("v"), params.get("as")) == (
                    "application/json", "apidiscovery.k8s.io", "v2", "APIGroupDiscoveryList"):
                return True
            if media in ("application/json", "*/*") and not params:
                return False
        return False

    def _send_text(self, code, text):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _openapi_gv(self, rest):
        group, version = ("", rest[1]) if rest[0] == "api" else (rest[1], rest[2])
        if not self.app.registry.types_in(group, version):
            raise ApiError(404, "NotFound", NOT_FOUND_MESSAGE)
        self._send(200, discovery.openapi_v3_gv(self.app.registry, group, version))

    def _route_group(self, method, group, version, rest, params):
        registry = self.app.registry
        if not rest:
            if not registry.types_in(group, version):
                raise ApiError(404, "NotFound", NOT_FOUND_MESSAGE)
            return self._send(200, discovery.resource_list(registry, group, version))
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            candidate = registry.lookup(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        rtype = registry.lookup(group, version, rest[0])
        if rtype is None or len(rest) > 3 or (len(rest) == 3 and (
                rest[2] != "status" or not rtype.status_subresource)):
            raise ApiError(404, "NotFound", NOT_FOUND_MESSAGE)
        if rtype.namespaced and not namespace and len(rest) > 1:
            raise ApiError(404, "NotFound", NOT_FOUND_MESSAGE)
        name = rest[1] if len(rest) > 1 else ""
        subresource = rest[2] if len(rest) > 2 else ""
        self._resource(method, rtype, namespace, name, subresource, Request(params))

    def _record(self, method, path, verb):
        key = self.app.requests.record(method, path, verb)
        self._timed_key = key if verb != "watch" else None

    def _resource(self, method, rtype, namespace, name, subresource, request):
        api = self.app.api
        verb = {"GET": "get" if name else "list", "POST": "create", "PUT": "update",
                "PATCH": "patch", "DELETE": "delete" if name else "deletecollection"}[method]
        if verb == "list" and request.param("watch") in ("1", "true"):
            verb = "watch"
        self._record(method, urllib.parse.urlsplit(self.path).path, verb)
        if verb == "get":
            return self._send_object(rtype, api.get(rtype, namespace, name), request)
        if verb == "list":
            return self._send_list(rtype, namespace, request)
        if verb == "watch":
            return self._watch(rtype, namespace, request)
        if verb == "create":
            if rtype.namespaced and not namespace:
                raise method_not_allowed()
            created = api.create(rtype, namespace, self._json_body(), request)
            return self._send_object(rtype, created, request, 201)
        if verb == "update":
            updated = api.update(rtype, namespace, name, self._json_body(), request, subresource)
            return self._send_object(rtype, updated, request)
        if verb == "patch":
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            patched = api.patch(rtype, namespace, name, content_type, self._body(), request,
                                subresource)
            return self._send_object(rtype, patched, request)
        if verb == "delete":
            options = self._json_body()
            _, result = api.delete(rtype, namespace, name, request, options)
            return self._send(200, result)
        return self._delete_collection(rtype, namespace, request)

    def _delete_collection(self, rtype, namespace, request):
        options = self._json_body()
        items, rv, _, _ = self.app.api.list(rtype, namespace, request)
        deleted = []
        for item in items:
            try:
                deleted.append(self.app.api.delete(rtype, item["metadata"].get("namespace", ""),
                                                   item["metadata"]["name"], request, options)[1])
            except ApiError as err:
                if err.code != 404:
                    raise
        self._send(200, {"kind": rtype.list_kind, "apiVersion": rtype.api_version,
                         "metadata": {"resourceVersion": rv},
                         "items": [d for d in deleted if d.get("kind") == rtype.kind]})

    # ---- rendering -----------------------------------------------------------------------

    def _send_object(self, rtype, obj, request, code=200):
        rendering, api_version = _rendering(self.headers.get("Accept"))
        if rendering == "Table":
            include = request.param("includeObject", "Metadata")
            obj = tables.table(rtype, [obj], {"resourceVersion": obj["metadata"].get(
                "resourceVersion", "")}, include, api_version)
        elif rendering == "PartialObjectMetadata":
            obj = tables.partial_metadata(obj, api_version)
        self._send(code, obj)

    def _send_list(self, rtype, namespace, request):
        items, rv, token, remaining = self.app.api.list(rtype, namespace, request)
        meta = {"resourceVersion": rv}
        if token:
            meta["continue"] = token
            meta["remainingItemCount"] = remaining
        rendering, api_version = _rendering(self.headers.get("Accept"))
        if rendering == "Table":
            body = tables.table(rtype, items, meta, request.param("includeObject", "Metadata"),
                                api_version)
        elif rendering.startswith("PartialObjectMetadata"):
            body = tables.partial_metadata_list(items, meta, api_version)
        else:
            if not rtype.is_custom:
                items = [{k: v for k, v in i.items() if k not in ("apiVersion", "kind")}
                         for i in items]
            body = {"kind": rtype.list_kind, "apiVersion": rtype.api_version,
                    "metadata": meta, "items": items}
        self._send(200, body)

    # ---- watch ---------------------------------------------------------------------------

    def _write_chunk(self, payload):
        data = json.dumps(payload).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _watch(self, rtype, namespace, request):
        rendering, api_version = _rendering(self.headers.get("Accept"))
        watch = Watch(self.app, rtype, namespace, request)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.close_connection = True
        headers_sent = False
        try:
            for event in watch.events():
                if rendering == "Table" and event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                    event = dict(event, object=tables.table(
                        rtype, [event["object"]],
                        {"resourceVersion": event["object"]["metadata"]["resourceVersion"]},
                        request.param("includeObject", "Metadata"), api_version,
                        with_headers=not headers_sent))
                    headers_sent = True
                elif rendering.startswith("PartialObjectMetadata") and event["type"] != "ERROR":
                    event = dict(event, object=tables.partial_metadata(event["object"],
                                                                       api_version))
                self._write_chunk(event)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, app, ssl_context, port=0):
        super().__init__(("127.0.0.1", port), Handler)
        self.app = app
        self.socket = ssl_context.wrap_socket(self.socket, server_side=True,
                                              do_handshake_on_connect=False)
        app.address = f"127.0.0.1:{self.server_address[1]}"

    def finish_request(self, request, client_address):
        # Headers and body leave in separate writes; without TCP_NODELAY, Nagle's algorithm
        # and the client's delayed ACK add about 40 ms to every answer.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.app.requests.connected()
        try:
            request.do_handshake()
        except OSError:
            return
        super().finish_request(request, client_address)
