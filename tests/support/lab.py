"""build/bin/proxy_lab as a test fixture: real Squid, tinyproxy, nginx, mitmproxy and a TLS
gRPC server on 127.0.0.1 (tests/fixtures), its LAB_* addresses as a dict; stopped by PID."""
import ctypes
import os
import shutil
import signal
import subprocess
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROXY_LAB = os.environ.get("PROXY_LAB_BIN", os.path.join(ROOT, "build", "bin", "proxy_lab"))


def die_with_parent():
    """preexec_fn: the child gets SIGKILL if this test process dies, pass, fail or crash."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class ProxyLab:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="agentproxy-e2e-lab-")
        env_file = os.path.join(self.dir, "lab.env")
        self.process = subprocess.Popen([PROXY_LAB, "--env-file", env_file],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, preexec_fn=die_with_parent)
        if self.process.stdout.readline().strip() != "ready":
            self.process.kill()
            raise RuntimeError("proxy lab did not start: " + self.process.stderr.read())
        self.env = {}
        with open(env_file, encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.rstrip("\n").partition("=")
                self.env[key] = value.strip("'")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)
