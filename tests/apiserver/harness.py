"""Test helpers: start kube_apiserver.py per the launcher contract, talk to it with
kubectl, helm and raw HTTPS, and stop it by PID."""
import contextlib
import ctypes
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.path.join(HERE, "testdata")
PYTHON = "/usr/bin/python3"


def _die_with_parent():
    """preexec_fn: the server gets SIGKILL if the test process dies without stopping it."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class ApiServer:
    """One running test API server in its own temporary directory."""

    def __init__(self, *extra_args):
        self.dir = tempfile.mkdtemp(prefix="kube-apiserver-test-")
        self.home = os.path.join(self.dir, "home")
        os.makedirs(self.home)
        with open(os.path.join(self.dir, "stderr"), "wb") as stderr:
            self.process = subprocess.Popen(
                [PYTHON, os.path.join(HERE, "kube_apiserver.py"), "--dir", self.dir, *extra_args],
                stdout=subprocess.DEVNULL, stderr=stderr, preexec_fn=_die_with_parent)
        ready = os.path.join(self.dir, "ready.json")
        deadline = time.monotonic() + 10
        while not os.path.exists(ready):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"test API server did not start: {self._stderr()}")
            time.sleep(0.02)
        with open(ready, encoding="utf-8") as handle:
            self.info = json.load(handle)
        self.context = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.crt"))

    def _stderr(self):
        with open(os.path.join(self.dir, "stderr"), encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def stop(self):
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.info["pid"] if hasattr(self, "info") else self.process.pid,
                    signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def env(self):
        env = dict(os.environ, KUBECONFIG=self.info["kubeconfig"], HOME=self.home)
        env.pop("KUBECTL_EXTERNAL_DIFF", None)
        return env

    def run(self, tool, *args, input_text=None, check=True, timeout=60):
        result = subprocess.run([tool, *args], capture_output=True, text=True, env=self.env,
                                input=input_text, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def kubectl(self, *args, **kwargs):
        return self.run("kubectl", *args, **kwargs)

    def connection(self, timeout=10):
        return http.client.HTTPSConnection("127.0.0.1", self.info["port"], context=self.context,
                                           timeout=timeout)

    def request(self, method, path, body=None, content_type="application/json", token=None,
                accept="application/json"):
        """Returns (status code, decoded JSON body, headers)."""
        headers = {"Authorization": f"Bearer {token or self.info['token']}", "Accept": accept}
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            headers["Content-Type"] = content_type
        connection = self.connection()
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            decoded = json.loads(raw) if raw else None
        except ValueError:
            decoded = raw.decode(errors="replace")
        return response.status, decoded, dict(response.getheaders())

    def ok(self, method, path, body=None, **kwargs):
        status, decoded, _ = self.request(method, path, body, **kwargs)
        if status >= 300:
            raise AssertionError(f"{method} {path} -> {status}: {decoded}")
        return decoded

    def watch(self, path, timeout=10):
        """Opens a watch; returns an iterator of decoded events (ends with the stream)."""
        connection = self.connection(timeout)
        connection.request("GET", path, headers={
            "Authorization": f"Bearer {self.info['token']}", "Accept": "application/json"})
        response = connection.getresponse()
        if response.status != 200:
            raise AssertionError(f"watch {path} -> {response.status}: {response.read()}")

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

    def fault(self, **spec):
        return self.ok("POST", "/_test/faults", spec)


class ServerTestCase(unittest.TestCase):
    """Shares one server per test class."""
    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.server = ApiServer(*cls.server_args)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def apply_file(self, name):
        return self.server.kubectl("apply", "-f", os.path.join(TESTDATA, name))


def wait_for(predicate, timeout=10, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")
