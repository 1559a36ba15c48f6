"""Load for the benchmarks: many API requests at once against the API server (as the admin),
each client thread on one kept-alive HTTPS connection (as client-go and the operator do), so
the figures measure the server and not a TLS handshake per request."""
import concurrent.futures
import json
import threading
import time

POLICIES = "/apis/agentproxy.io/v1alpha1/proxypolicies"
CLIENTS = 16


INJECT_LABEL = {"agentproxy.io/inject": "enabled"}


def peak_rss_mib(pid):
    """A process' peak resident set (VmHWM), in MiB."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def policy_doc(name, proxy, target, server_name=None, server_ca=None, opt_in=True):
    """A policy with one target; server_ca (namespace, name, key) names the ConfigMap holding
    the CA that issues the target's certificate. With opt_in the policy injects into the
    namespaces labelled agentproxy.io/inject=enabled (as DESIGN.md's example), otherwise (no
    selector) into every namespace."""
    entry = {"address": target}
    if server_name:
        entry["serverName"] = server_name
    if server_ca:
        namespace, configmap, key = server_ca
        entry["serverCA"] = {"configMapRef": {"namespace": namespace, "name": configmap,
                                              "key": key}}
    spec = {"proxy": {"httpsProxy": proxy}, "targets": [entry]}
    if opt_in:
        spec["selector"] = {"namespaceSelector": {"matchLabels": dict(INJECT_LABEL)}}
    return {"apiVersion": "agentproxy.io/v1alpha1", "kind": "ProxyPolicy",
            "metadata": {"name": name}, "spec": spec}


def in_parallel(server, requests, clients=CLIENTS):
    """Sends (method, path, body[, content type]) requests, `clients` at a time; raises on the
    first answer that is not 2xx. Returns when each was answered (time.monotonic()), in order."""
    local = threading.local()
    headers = {"Accept": "application/json"}
    connections = []
    lock = threading.Lock()

    def send(request):
        method, path, body, *rest = request
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = server.connection()
            with lock:
                connections.append(connection)
        data = json.dumps(body)
        connection.request(method, path, body=data, headers=dict(
            headers, **{"Content-Type": rest[0] if rest else "application/json"}))
        response = connection.getresponse()
        raw = response.read()
        if response.status >= 300:
            raise AssertionError(f"{method} {path} -> {response.status}: {raw[:300]!r}")
        return time.monotonic()

    try:
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            return list(pool.map(send, requests))
    finally:
        for connection in connections:
            connection.close()
