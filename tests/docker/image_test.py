"""The image, run: the agentproxy image that image_build (scripts/image.sh) built, run by
podman as the chart runs its pod (uid 65532, a read-only root filesystem, no capabilities, no
new privileges, seccomp, a 16 MiB tmpfs on /tmp), on the host network so that it reaches the
proxy lab and the control plane on 127.0.0.1.

Real parts: the image (Debian 12 with the runtime packages and the binary), podman and runc,
the lab's Squid 5.7 and TLS gRPC server (build/bin/proxy_lab), and for `agentproxy run` the
real control plane (scripts/cluster.sh: etcd, kube-apiserver and kube-controller-manager
v1.36.3) with the chart installed by helm.
"""
import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import unittest
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IMAGE_LIB = os.path.join(ROOT, "scripts", "lib", "image.sh")
IMAGE = os.environ.get("AGENTPROXY_IMAGE", "agentproxy:dev")
VERSION = os.environ.get("AGENTPROXY_VERSION")
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

from cluster import Cluster, free_port, rmtree, wait_for  # noqa: E402
from lab import ProxyLab  # noqa: E402

CHART = os.path.join(ROOT, "charts", "agentproxy")
NAMESPACE = "agentproxy-system"
SERVICE_ACCOUNT_USER = f"system:serviceaccount:{NAMESPACE}:agentproxy"


def image_lib_array(name):
    """A bash array of scripts/lib/image.sh: the flags the demo runs the image with too."""
    result = subprocess.run(["bash", "-c", f'source "$1" && printf "%s\\0" "${{{name}[@]}}"',
                             "bash", IMAGE_LIB], capture_output=True, text=True, check=True)
    return result.stdout.split("\0")[:-1]


PODMAN = image_lib_array("IMAGE_PODMAN")
RUN_FLAGS = image_lib_array("IMAGE_RUN_FLAGS") + image_lib_array("IMAGE_SECURITY_FLAGS")


def podman_run(*args, mounts=(), timeout=60):
    """`podman run --rm` of the image's agentproxy with ARGS, FILES mounted read-only at the
    same paths. A CompletedProcess."""
    volumes = [f"--volume={path}:{path}:ro" for path in mounts]
    return subprocess.run(
        [*PODMAN, "run", "--rm", *RUN_FLAGS, *volumes,
         "--entrypoint", "/usr/local/bin/agentproxy", IMAGE, *args],
        capture_output=True, text=True, timeout=timeout, check=False)


def image_lib(function, *args, timeout=120):
    """Runs a function of scripts/lib/image.sh (what the demo calls) in bash."""
    return subprocess.run(["bash", "-c", f'source "$1" && shift && {function} "$@"', "bash",
                           IMAGE_LIB, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


LAB = None


def setUpModule():
    global LAB
    LAB = ProxyLab()


def tearDownModule():
    LAB.stop()
    rmtree(LAB.dir)


class ImageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = LAB

    def test_image_is_what_the_chart_expects(self):
        """The chart runs the image's entrypoint with its own flags as uid 65532."""
        inspect = subprocess.run([*PODMAN, "image", "inspect", IMAGE], capture_output=True,
                                 text=True, check=True)
        config = json.loads(inspect.stdout)[0]["Config"]
        self.assertEqual(config["Entrypoint"], ["/usr/local/bin/agentproxy", "run"])
        self.assertEqual(config["User"], "65532:65532")

    def test_version(self):
        result = podman_run("version")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, f"agentproxy {VERSION}\n")

    def probe(self, proxy, *extra):
        lab = self.lab.env
        return podman_run("probe", "--proxy", lab[proxy], "--target", lab["LAB_TARGET"],
                          "--server-name", lab["LAB_SERVER_NAME"],
                          "--target-ca", lab["LAB_TARGET_CA"], "--timeout", "10s", *extra,
                          mounts=[lab["LAB_TARGET_CA"]] + [a for a in extra if a.startswith("/")])

    def test_probe_through_squid_is_supported(self):
        result = self.probe("LAB_SQUID", "--output", "json")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        report = json.loads(result.stdout)
        self.assertEqual(report["classification"], "Supported")
        [target] = report["targets"]
        self.assertEqual(target["tunnel"], "Established")
        self.assertEqual(target["grpc"], "OK")
        print(f"\nprobe through Squid from the image: {report['classification']}, "
              f"tunnel {target['tunnel']}, grpc {target['grpc']}")

    def test_probe_through_squid_ssl_bump_is_unsupported(self):
        """Squid's SSL bump answers without HTTP/2: the image reports it with the remedy."""
        result = self.probe("LAB_SQUID_BUMP", "--trust-ca", self.lab.env["LAB_SQUID_BUMP_CA"])
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertRegex(result.stdout.splitlines()[0], r": Unsupported$")
        self.assertIn("ssl_bump splice", result.stdout)


class OperatorImageTest(unittest.TestCase):
    """`agentproxy run` from the image as a pod of the chart runs: the chart installed by helm
    into the real control plane, the ServiceAccount's token and the cluster CA mounted at
    /var/run/secrets/kubernetes.io/serviceaccount, KUBERNETES_SERVICE_HOST/PORT set (the
    in-cluster config path), started with scripts/lib/image.sh's start_operator_image (what
    the demo calls)."""

    @classmethod
    def setUpClass(cls):
        cls.lab = LAB
        cls.cluster = None
        try:
            cls.cluster = Cluster()
            # No Service routes to 127.0.0.1 here: the API server calls the webhook at a URL
            # (webhook.url), as for an operator run outside its cluster.
            cls.ports = {name: free_port() for name in ("metrics", "health", "webhook")}
            cls.webhook_url = f"https://127.0.0.1:{cls.ports['webhook']}/mutate-v1-pod"
            cls.cluster.helm("install", "agentproxy", CHART, "-n", NAMESPACE,
                             "--create-namespace", "--wait=false",
                             "--set", f"webhook.url={cls.webhook_url}")
            # The chart's arguments to its container, with the listeners on loopback ports.
            deployment = json.loads(cls.kubectl("-n", NAMESPACE, "get", "deployment",
                                                "agentproxy", "-o", "json"))
            args = [a for a in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
                    if not a.startswith(("--metrics-addr", "--health-addr", "--webhook-addr"))]
            if f"--webhook-url={cls.webhook_url}" not in args:
                raise AssertionError(f"the chart does not pass --webhook-url: {args}")
            # What the kubelet mounts: a TokenRequest token of the chart's ServiceAccount.
            token = os.path.join(cls.cluster.dir, "operator.token")
            with open(token, "w", encoding="utf-8") as handle:
                handle.write(cls.kubectl("-n", NAMESPACE, "create", "token", "agentproxy",
                                         "--duration=1h").strip())
            cls.container = f"agentproxy-image-test-{os.getpid()}"
            started = time.monotonic()
            start = image_lib(
                "start_operator_image", cls.container, token, cls.cluster.ca_file,
                "127.0.0.1", str(cls.cluster.port),
                *args, f"--metrics-addr=127.0.0.1:{cls.ports['metrics']}",
                f"--health-addr=127.0.0.1:{cls.ports['health']}",
                f"--webhook-addr=127.0.0.1:{cls.ports['webhook']}")
            if start.returncode != 0:
                raise RuntimeError("start_operator_image failed:\n" + start.stderr)
            cls.start_seconds = cls.wait_ready(started)
            print(f"\noperator from the image: /readyz answered {cls.start_seconds:.2f} s after "
                  "podman run")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if hasattr(cls, "container"):
            image_lib("stop_operator_image", cls.container)
        if cls.cluster:
            cls.cluster.stop()

    @classmethod
    def kubectl(cls, *args, stdin=None):
        return cls.cluster.kubectl(*args, input_text=stdin).stdout

    @classmethod
    def wait_ready(cls, started):
        url = f"http://127.0.0.1:{cls.ports['health']}/readyz"
        deadline = started + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except OSError:
                pass
            if cls.inspect("{{.State.Running}}") != "true":
                break
            time.sleep(0.05)
        raise RuntimeError(f"the operator was not ready:\n{cls.logs()}")

    @classmethod
    def inspect(cls, template):
        return subprocess.run([*PODMAN, "inspect", "-f", template, cls.container],
                              capture_output=True, text=True, check=False).stdout.strip()

    @classmethod
    def logs(cls):
        result = subprocess.run([*PODMAN, "logs", cls.container], capture_output=True,
                                text=True, check=False)
        return result.stdout + result.stderr

    def get(self, *args):
        return json.loads(self.kubectl("get", *args, "-o", "json"))

    def test_runs_confined_as_the_chart_says(self):
        """The process in the container, as the kernel sees it."""
        pid = self.inspect("{{.State.Pid}}")
        with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
            status = dict(line.split(":\t", 1) for line in handle.read().splitlines())
        self.assertEqual(status["Name"].strip(), "agentproxy")
        self.assertEqual(status["Uid"].split(), ["65532"] * 4)
        self.assertEqual(status["Gid"].split(), ["65532"] * 4)
        for capabilities in ("CapEff", "CapPrm", "CapBnd"):
            self.assertEqual(int(status[capabilities], 16), 0, capabilities)
        self.assertEqual(status["NoNewPrivs"].strip(), "1")
        self.assertEqual(status["Seccomp"].strip(), "2")  # a filter: podman's default profile
        with open(f"/proc/{pid}/mounts", encoding="utf-8") as handle:
            mounts = {fields[1]: fields[3].split(",")
                      for fields in (line.split() for line in handle)}
        self.assertIn("ro", mounts["/"])
        self.assertIn("rw", mounts["/tmp"])
        # /var/run is /run in Debian, in the image as in a node's container.
        self.assertIn("ro", mounts["/run/secrets/kubernetes.io/serviceaccount"])

    def test_leads_writes_the_ca_bundle_probes_and_writes_status(self):
        # It leads: the Lease names its pod.
        def leader():
            lease = self.cluster.get(f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}"
                                     "/leases/agentproxy-leader")
            return lease and lease["spec"].get("holderIdentity")

        self.assertEqual(wait_for(leader, timeout=30, what="the Lease"), self.container)

        # The caBundle it wrote verifies the certificate its webhook serves, for the host of
        # webhook.url.
        def ca_bundle():
            config = self.cluster.get("/apis/admissionregistration.k8s.io/v1/"
                                      "mutatingwebhookconfigurations/agentproxy")
            return config and config["webhooks"][0]["clientConfig"].get("caBundle")

        ca = base64.b64decode(wait_for(ca_bundle, timeout=30, what="the caBundle")).decode()
        context = ssl.create_default_context(cadata=ca)
        with socket.create_connection(("127.0.0.1", self.ports["webhook"]), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                self.assertIsNotNone(tls.getpeercert())

        # Two policies probed through the lab from inside the container: a plain Squid and
        # one that denies CONNECT.
        lab = self.lab.env
        self.kubectl("-n", NAMESPACE, "create", "configmap", "mgmt-ca",
                     f"--from-file=ca.crt={lab['LAB_TARGET_CA']}")
        policies = ""
        for name, proxy in (("image-squid", lab["LAB_SQUID"]),
                            ("image-squid-deny", lab["LAB_SQUID_DENY"])):
            policies += f"""---
apiVersion: agentproxy.io/v1alpha1
kind: ProxyPolicy
metadata: {{name: {name}}}
spec:
  proxy: {{httpsProxy: "{proxy}"}}
  targets:
    - address: "{lab['LAB_TARGET']}"
      serverName: {lab['LAB_SERVER_NAME']}
      serverCA: {{configMapRef: {{namespace: {NAMESPACE}, name: mgmt-ca, key: ca.crt}}}}
  selector:
    namespaceSelector: {{matchLabels: {{agentproxy.io/inject: {name}}}}}
"""
        self.kubectl("apply", "-f", "-", stdin=policies)

        def classified(name):
            status = self.get("proxypolicy", name).get("status", {})
            return status if status.get("classification") not in (None, "", "Unknown") else None

        try:
            supported = wait_for(lambda: classified("image-squid"), timeout=60,
                                 what="image-squid's status")
            denied = wait_for(lambda: classified("image-squid-deny"), timeout=60,
                              what="image-squid-deny's status")
        except AssertionError as error:
            raise AssertionError(f"{error}\nthe operator's log:\n{self.logs()}") from None
        self.assertEqual(supported["classification"], "Supported", supported)
        self.assertEqual(denied["classification"], "Unsupported", denied)
        self.assertIn("403", json.dumps(denied))
        print(f"status written by the operator from the image: image-squid "
              f"{supported['classification']}, image-squid-deny {denied['classification']}")

        # The API server calls the webhook in the container: a pod created in a namespace
        # that image-squid selects is stored with the proxy injected.
        self.cluster.create_namespace("image-agents", {"agentproxy.io/inject": "image-squid"})
        wait_for(lambda: self.cluster.get(
            "/api/v1/namespaces/image-agents/configmaps/agentproxy-ca-image-squid"),
            timeout=30, what="the CA bundle copy in image-agents")
        self.kubectl("-n", "image-agents", "apply", "-f", "-", stdin="""
apiVersion: v1
kind: Pod
metadata: {name: agent, labels: {app: agent}}
spec:
  containers: [{name: agent, image: "agent:1.0"}]
""")
        pod = self.get("-n", "image-agents", "pod", "agent")
        self.assertEqual(pod["metadata"].get("annotations", {}).get("agentproxy.io/policy"),
                         "image-squid", pod["metadata"])
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0].get("env", [])}
        self.assertEqual(env.get("HTTPS_PROXY"), lab["LAB_SQUID"], env)
        print(f"pod injected by the webhook in the image: HTTPS_PROXY={env['HTTPS_PROXY']}")

        # Everything it did, it did as the chart's ServiceAccount (the API server's audit log).
        writes = {(e["objectRef"].get("resource"), e["objectRef"].get("subresource", ""))
                  for e in self.cluster.requests_by(SERVICE_ACCOUNT_USER)
                  if e["verb"] in ("create", "update", "patch") and e.get("objectRef")
                  and 200 <= e.get("responseStatus", {}).get("code", 0) < 300}
        for write in (("leases", ""), ("mutatingwebhookconfigurations", ""),
                      ("secrets", ""), ("proxypolicies", "status")):
            self.assertIn(write, writes)

    def test_stops_cleanly_on_sigterm(self):
        """Last (alphabetically): what Kubernetes does to a pod it deletes."""
        self.assertEqual(self.inspect("{{.State.Running}}"), "true", self.logs())
        subprocess.run([*PODMAN, "stop", "-t", "20", self.container], capture_output=True,
                       check=True, timeout=60)
        self.assertEqual(self.inspect("{{.State.ExitCode}}"), "0", self.logs())
        self.assertNotIn('"level":"error"', self.logs())


if __name__ == "__main__":
    unittest.main()
