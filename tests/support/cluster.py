"""A real Kubernetes control plane per test class (scripts/cluster.sh: etcd, kube-apiserver and
kube-controller-manager v1.36.3 built from their Go modules), and the tools a user drives it
with: the kubectl of the same build, helm, and raw HTTPS as the admin.

Guarantees: every cluster has its own folder and free ports, so several run at once; it is
stopped by PID (scripts/cluster.sh down) when stop() runs, and by the script's watchdog when
the test process dies first. kubectl and helm get a private HOME (their discovery caches are
per cluster) and PATH leads with the control plane's own binaries.
"""
import base64
import contextlib
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLUSTER_SH = os.path.join(ROOT, "scripts", "cluster.sh")


def wait_for(predicate, timeout=10, interval=0.05, what="condition"):
    """Calls predicate until it returns something true, and returns that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not met in {timeout} s")
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """One running control plane. `apiserver_args` are extra kube-apiserver flags."""

    def __init__(self, *apiserver_args):
        env = dict(os.environ, CLUSTER_APISERVER_ARGS=" ".join(apiserver_args))
        started = time.monotonic()
        result = subprocess.run([CLUSTER_SH, "up", "--owner", str(os.getpid())],
                                capture_output=True, text=True, env=env, timeout=600, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"scripts/cluster.sh up failed ({result.returncode}):\n"
                               f"{result.stderr[-4000:]}")
        self.kubeconfig = result.stdout.strip().splitlines()[-1]
        self.dir = os.path.dirname(self.kubeconfig)
        self.start_seconds = time.monotonic() - started
        with open(os.path.join(self.dir, "bin"), encoding="utf-8") as handle:
            self.bin = handle.read().strip()
        self.ports = {}
        with open(os.path.join(self.dir, "ports.env"), encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.strip().partition("=")
                self.ports[key] = value
        self.port = int(self.ports["APISERVER_PORT"])
        self.url = f"https://127.0.0.1:{self.port}"
        self.ca_file = os.path.join(self.dir, "ca.crt")
        self.home = tempfile.mkdtemp(prefix="home-", dir=self.dir)
        self.context = ssl.create_default_context(cafile=self.ca_file)
        pki = os.path.join(self.dir, "pki")
        self.context.load_cert_chain(os.path.join(pki, "admin.crt"), os.path.join(pki, "admin.key"))

    # -- lifecycle -----------------------------------------------------------------------
    def stop(self, keep=False):
        self.record_usage()
        if os.path.isdir(self.dir):
            subprocess.run([CLUSTER_SH, "down", self.dir] + (["--keep"] if keep else []),
                           capture_output=True, timeout=120, check=False)

    def restart(self, component):
        """Stops and starts apiserver, etcd or controller-manager (a real fault)."""
        self._script("restart", component, self.dir, timeout=180)

    def stop_component(self, component):
        self._script("stop", component, self.dir)

    def start_component(self, component):
        self._script("start", component, self.dir, timeout=180)

    def compact(self):
        """Compacts etcd at its current revision; returns the revision."""
        return int(self._script("compact", self.dir).strip())

    def etcd_items(self):
        """Every key and value etcd holds (the latest revision), values as the raw bytes the API
        server stored (protobuf for built-in types, JSON for custom resources), through etcd's
        JSON gateway: what a backup of etcd, or anyone who reads it, sees."""
        ports = {}
        with open(os.path.join(self.dir, "ports.env"), encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.strip().partition("=")
                ports[key] = value
        connection = http.client.HTTPConnection("127.0.0.1", int(ports["ETCD_PORT"]), timeout=30)
        try:
            everything = base64.b64encode(b"\0").decode()
            connection.request("POST", "/v3/kv/range",
                               json.dumps({"key": everything, "range_end": everything}))
            answer = json.loads(connection.getresponse().read())
        finally:
            connection.close()
        return [(base64.b64decode(kv["key"]).decode(), base64.b64decode(kv.get("value", "")))
                for kv in answer.get("kvs", [])]

    def _script(self, *args, timeout=60):
        result = subprocess.run([CLUSTER_SH, *args], capture_output=True, text=True,
                                timeout=timeout, check=False)
        if result.returncode != 0:
            raise AssertionError(f"cluster.sh {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    # -- tools ---------------------------------------------------------------------------
    @property
    def env(self):
        env = dict(os.environ, KUBECONFIG=self.kubeconfig, HOME=self.home,
                   PATH=self.bin + os.pathsep + os.environ.get("PATH", ""))
        env.pop("KUBECTL_EXTERNAL_DIFF", None)
        return env

    def run(self, tool, *args, input_text=None, check=True, timeout=90, env=None):
        result = subprocess.run([tool, *args], capture_output=True, text=True,
                                env=env or self.env, input=input_text, timeout=timeout,
                                check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def kubectl(self, *args, **kwargs):
        return self.run(os.path.join(self.bin, "kubectl"), *args, **kwargs)

    def helm(self, *args, **kwargs):
        kwargs.setdefault("timeout", 180)
        return self.run("helm", *args, **kwargs)

    def apply(self, obj_or_text):
        text = obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text)
        return self.kubectl("apply", "-f", "-", input_text=text)

    # -- raw API as the admin ------------------------------------------------------------
    def request(self, method, path, body=None, content_type="application/json",
                accept="application/json", headers=None, timeout=30, client_certificate=True):
        """Returns (status code, decoded body, headers)."""
        all_headers = {"Accept": accept, **(headers or {})}
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            all_headers["Content-Type"] = content_type
        connection = self.connection(timeout, client_certificate)
        try:
            connection.request(method, path, body=data, headers=all_headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            decoded = json.loads(raw) if raw else None
        except ValueError:
            decoded = raw.decode(errors="replace")
        return response.status, decoded, dict(response.getheaders())

    def connection(self, timeout=30, client_certificate=True):
        """A kept-alive HTTPS connection, as the admin (its client certificate) unless
        client_certificate is false (then a request authenticates with its own header)."""
        context = self.context if client_certificate else ssl.create_default_context(
            cafile=self.ca_file)
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=context,
                                           timeout=timeout)

    def watch(self, path, timeout=60):
        """Opens a watch (path with ?watch=1...); returns an iterator of decoded events that
        ends with the stream."""
        connection = self.connection(timeout)
        connection.request("GET", path, headers={"Accept": "application/json"})
        response = connection.getresponse()
        if response.status != 200:
            raise AssertionError(f"watch {path} -> {response.status}: {response.read()[:300]}")

        def events():
            try:
                while True:
                    line = response.readline()
                    if not line:
                        return
                    yield json.loads(line)
            finally:
                connection.close()
        return events()

    def get(self, path):
        status, body, _ = self.request("GET", path)
        return body if status == 200 else None

    def ok(self, method, path, body=None, **kwargs):
        status, decoded, _ = self.request(method, path, body, **kwargs)
        if status >= 300:
            raise AssertionError(f"{method} {path} -> {status}: {decoded}")
        return decoded

    # -- identities ----------------------------------------------------------------------
    def service_account_kubeconfig(self, namespace, name, path, duration="24h"):
        """Writes a kubeconfig that authenticates as the ServiceAccount with a TokenRequest
        token (what a pod's projected token is), and returns its path."""
        token = self.kubectl("-n", namespace, "create", "token", name,
                             f"--duration={duration}").stdout.strip()
        config = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "local", "cluster": {"server": self.url,
                                                       "certificate-authority": self.ca_file}}],
            "users": [{"name": f"system:serviceaccount:{namespace}:{name}",
                       "user": {"token": token}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "namespace": namespace,
                                                       "user": f"system:serviceaccount:{namespace}:{name}"}}],
            "current-context": "local"}
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w",
                  encoding="utf-8") as handle:
            json.dump(config, handle)
        return path

    def wait_default_service_account(self, namespace, timeout=30):
        """Pods need the namespace's default ServiceAccount, which kube-controller-manager
        creates a moment after the namespace: as in any real cluster."""
        wait_for(lambda: self.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/default"),
                 timeout=timeout, what=f"the default ServiceAccount of {namespace}")

    def create_namespace(self, name, labels=None):
        self.kubectl("create", "namespace", name)
        if labels:
            self.kubectl("label", "namespace", name, *[f"{k}={v}" for k, v in labels.items()])
        self.wait_default_service_account(name)

    # -- the audit log -------------------------------------------------------------------
    def audit_events(self):
        events = []
        with contextlib.suppress(FileNotFoundError):
            with open(os.path.join(self.dir, "audit.log"), encoding="utf-8") as handle:
                for line in handle:
                    with contextlib.suppress(ValueError):
                        events.append(json.loads(line))
        return events

    def requests_by(self, username, predicate=None):
        """Audit events (stage ResponseComplete) of one user, optionally filtered."""
        return [e for e in self.audit_events()
                if e.get("stage") == "ResponseComplete" and e["user"].get("username") == username
                and (predicate is None or predicate(e))]


    def record_usage(self, prefix="system:serviceaccount:agentproxy-system:"):
        """Appends what ServiceAccounts of the operator's namespace did (from the audit log)
        to $AGENTPROXY_AUDIT_OUT, one JSON line per distinct request kind: what the RBAC test
        compares with the chart's grants after the whole e2e run."""
        out = os.environ.get("AGENTPROXY_AUDIT_OUT")
        if not out:
            return
        rows = set()
        for event in self.audit_events():
            user = event.get("user", {}).get("username", "")
            if event.get("stage") != "ResponseComplete" or not user.startswith(prefix):
                continue
            ref = event.get("objectRef") or {}
            if not ref.get("resource"):
                continue  # a non-resource URL (/version, /api discovery): not RBAC-relevant
            rows.add(json.dumps({
                "user": user, "verb": event["verb"], "group": ref.get("apiGroup", ""),
                "resource": ref["resource"], "subresource": ref.get("subresource", ""),
                "namespace": ref.get("namespace", ""), "name": ref.get("name", ""),
                "code": event.get("responseStatus", {}).get("code", 0)}, sort_keys=True))
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        with open(out, "a", encoding="utf-8") as handle:
            for row in sorted(rows):
                handle.write(row + "\n")


def b64(text):
    return base64.b64encode(text.encode()).decode()


class ClusterTestCase:
    """Mixin: one cluster per test class (unittest.TestCase subclasses)."""
    apiserver_args = ()

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(*cls.apiserver_args)

    @classmethod
    def tearDownClass(cls):
        cls.cluster.stop()


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)
