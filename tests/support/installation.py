"""The operator as a user installs it, on a real control plane: `helm install` of
charts/agentproxy (CRD, RBAC, ServiceAccount, webhook configuration), then `agentproxy run`
as a local process in place of the Deployment's pods (no kubelet runs pods here), with the
Deployment's own arguments and a kubeconfig holding a TokenRequest token of the chart's
ServiceAccount, so every call it makes is authorised by the chart's rules and nothing else.

The webhook is served at https://127.0.0.1:PORT/mutate-v1-pod (the chart's webhook.url), as
for any operator run outside its cluster: no kube-proxy routes Service IPs here.
"""
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request

from cluster import free_port
from lab import die_with_parent

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AGENTPROXY = os.environ.get("AGENTPROXY_BIN", os.path.join(ROOT, "build", "bin", "agentproxy"))
CHART = os.path.join(ROOT, "charts", "agentproxy")
CRD = os.path.join(ROOT, "crds", "agentproxy.io_proxypolicies.yaml")
NS = "agentproxy-system"
SERVICE_ACCOUNT = "agentproxy"
OPERATOR_USER = f"system:serviceaccount:{NS}:{SERVICE_ACCOUNT}"
MWC = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/agentproxy"
LOCAL_ADDRESS_FLAGS = ("--metrics-addr", "--health-addr", "--webhook-addr")


def webhook_url(port):
    return f"https://127.0.0.1:{port}/mutate-v1-pod"


class Installation:
    """The chart installed into `cluster` (release agentproxy in agentproxy-system), with the
    webhook at a free local port, and the ServiceAccount's kubeconfig."""

    def __init__(self, cluster, *sets):
        self.cluster = cluster
        self.webhook_port = free_port()
        flags = [arg for value in (f"webhook.url={webhook_url(self.webhook_port)}", *sets)
                 for arg in ("--set", value)]
        self.installed = cluster.helm("install", "agentproxy", CHART, "-n", NS,
                                      "--create-namespace", *flags)
        self.kubeconfig = cluster.service_account_kubeconfig(
            NS, SERVICE_ACCOUNT, os.path.join(cluster.dir, "operator.kubeconfig"))

    def deployment_args(self):
        deployment = self.cluster.ok("GET", f"/apis/apps/v1/namespaces/{NS}/deployments/agentproxy")
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        return [a for a in args if not a.startswith(LOCAL_ADDRESS_FLAGS)]

    def operator(self, *extra, name="agentproxy-0", args=None, webhook_port=None, restart=False):
        """Starts `agentproxy run` with the Deployment's arguments (or `args`) and `extra`,
        serving the webhook at the chart's URL (or at `webhook_port`, for a second replica)."""
        return Operator(self.cluster, self.kubeconfig,
                        *(self.deployment_args() if args is None else args), *extra, name=name,
                        webhook_port=webhook_port or self.webhook_port, restart=restart)


class Operator:
    """One `agentproxy run` process; its log is kept for failure messages.

    With restart=True it is restarted whenever it exits, as the kubelet restarts a container
    of a Deployment's pod (restartPolicy Always): the operator exits on purpose when it loses
    its Lease, for example while the API server is down longer than the renew deadline.
    `exits` lists the exit codes seen."""

    def __init__(self, cluster, kubeconfig, *flags, name="agentproxy-0", webhook_port=None,
                 restart=False):
        self.metrics_port, self.health_port = free_port(), free_port()
        self.webhook_port = webhook_port or free_port()
        self.log_path = os.path.join(cluster.dir, name + ".log")
        self.env = dict(cluster.env, POD_NAME=name, POD_NAMESPACE=NS, KUBECONFIG=kubeconfig)
        self.argv = [AGENTPROXY, "run", "--kubeconfig", kubeconfig,
                     "--metrics-addr", f"127.0.0.1:{self.metrics_port}",
                     "--health-addr", f"127.0.0.1:{self.health_port}",
                     "--webhook-addr", f"127.0.0.1:{self.webhook_port}", *flags]
        self.exits = []
        self.stopping = threading.Event()
        self._spawn()
        if restart:
            threading.Thread(target=self._supervise, daemon=True).start()

    def _spawn(self):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=log, env=self.env,
                                            preexec_fn=die_with_parent)

    def _supervise(self):
        while not self.stopping.is_set():
            code = self.process.wait()
            if self.stopping.is_set():
                return
            self.exits.append(code)
            time.sleep(1)
            if not self.stopping.is_set():
                self._spawn()

    def metrics(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                        timeout=2) as response:
                return response.read().decode()
        except OSError:
            return ""

    def metric(self, name):
        for line in self.metrics().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return None

    def pause(self):
        """SIGSTOP: the process stands still, its connections stay open."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self):
        self.process.send_signal(signal.SIGCONT)

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def stop(self, sig=signal.SIGTERM):
        self.stopping.set()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def ca_bundle(cluster):
    config = cluster.get(MWC) or {}
    return (config.get("webhooks") or [{}])[0].get("clientConfig", {}).get("caBundle")


def policy_status(cluster, name):
    return (cluster.get(f"/apis/agentproxy.io/v1alpha1/proxypolicies/{name}") or {}).get(
        "status", {})


def status_writes(cluster, name):
    """How many times the operator wrote the policy's status (the audit log)."""
    return len(cluster.requests_by(OPERATOR_USER, lambda e: e["verb"] in ("patch", "update") and
                                   e.get("objectRef", {}).get("resource") == "proxypolicies" and
                                   e["objectRef"].get("subresource") == "status" and
                                   e["objectRef"].get("name") == name))


def to_json(obj):
    return obj if isinstance(obj, str) else json.dumps(obj)
