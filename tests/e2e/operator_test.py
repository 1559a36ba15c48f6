"""`agentproxy run` on a real control plane (kube-apiserver, etcd, kube-controller-manager
v1.36.3: scripts/cluster.sh) and the proxy lab: the controller as users meet it through
kubectl, installed with helm and running as the chart's ServiceAccount, so the chart's RBAC
authorises every call it makes.

Real parts: the control plane and its kubectl, helm, the agentproxy binary, Squid, tinyproxy
and a TLS gRPC server (the proxy lab). No kubelet runs pods: the operator runs as a local
process with the Deployment's arguments.
"""
import json
import os
import signal
import socket
import sys
import threading
import time
import unittest
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

from cluster import Cluster, free_port, wait_for  # noqa: E402
from lab import ProxyLab  # noqa: E402
from installation import NS, Installation, policy_status, status_writes  # noqa: E402


def policy_yaml(name, proxy, target, trust_configmap=None, credentials=None):
    lines = ["apiVersion: agentproxy.io/v1alpha1", "kind: ProxyPolicy",
             f"metadata: {{name: {name}}}", "spec:", "  proxy:", f"    httpsProxy: '{proxy}'"]
    if credentials:
        lines.append(f"    credentialsSecretRef: {{namespace: agentproxy-system, name: {credentials}}}")
    if trust_configmap:
        lines += ["  trust:", "    caBundles:",
                  f"      - configMapRef: {{namespace: agentproxy-system, name: {trust_configmap},"
                  " key: ca.crt}"]
    lines += ["  targets:", f"    - address: '{target}'", "      serverName: mgmt.test",
              "      serverCA: {configMapRef: {namespace: agentproxy-system, name: mgmt-ca,"
              " key: ca.crt}}"]
    return "\n".join(lines) + "\n"


class ScriptedProxy:
    """A proxy on 127.0.0.1 that answers every CONNECT with fixed bytes and closes: here, one
    that speaks Latin-1 and sends control characters, as old appliances do. A thread of this
    process, stopped by stop()."""

    def __init__(self, answer):
        self.answer = answer
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.settimeout(5)
                try:
                    if conn.recv(4096):
                        self.connections += 1
                        conn.sendall(self.answer)
                except OSError:
                    pass

    def stop(self):
        self.stopping.set()
        self.thread.join()
        self.sock.close()


class OperatorTestCase(unittest.TestCase):
    """One cluster, lab, chart installation and operator per test class."""
    operator_flags = ()
    apiserver_args = ()
    restart_operator = False  # restart it when it exits, as the kubelet would
    leader_elect = True  # the chart's --leader-elect

    @classmethod
    def setUpClass(cls):
        cls.lab = ProxyLab()
        cls.server = Cluster(*cls.apiserver_args)
        try:
            cls.installation = Installation(cls.server)
            for name, key in (("mgmt-ca", "LAB_TARGET_CA"), ("bump-ca", "LAB_SQUID_BUMP_CA")):
                cls.server.kubectl("-n", NS, "create", "configmap", name,
                                   f"--from-file=ca.crt={cls.lab.env[key]}")
            args = [a for a in cls.installation.deployment_args()
                    if cls.leader_elect or a != "--leader-elect"]
            cls.operator = cls.installation.operator(*cls.operator_flags, args=args,
                                                     restart=cls.restart_operator)
        except BaseException:
            cls.server.stop()
            cls.lab.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.operator.stop()
        cls.server.stop()
        cls.lab.stop()

    def apply(self, text):
        self.server.kubectl("apply", "-f", "-", input_text=text)

    def status(self, name):
        return policy_status(self.server, name)

    def wait_status(self, name, predicate, timeout=30):
        try:
            return wait_for(lambda: (lambda s: s if predicate(s) else None)(self.status(name)),
                            timeout=timeout, interval=0.2)
        except AssertionError:
            self.fail(f"status of {name} never matched: {json.dumps(self.status(name))}\n"
                      f"operator log:\n{self.operator.log()[-6000:]}")

    @staticmethod
    def condition(status, kind):
        return next((c for c in status.get("conditions", []) if c["type"] == kind), None)

    def status_patches(self, name):
        return status_writes(self.server, name)


class ControllerTest(OperatorTestCase):
    def test_plain_tunnel_is_supported_with_every_condition_set(self):
        self.apply(policy_yaml("plain", self.lab.env["LAB_SQUID"], self.lab.env["LAB_TARGET"]))
        status = self.wait_status("plain", lambda s: s.get("classification") == "Supported")
        self.assertEqual(status["observedGeneration"], 1)
        self.assertEqual(status["targets"][0]["grpc"], "OK")
        for kind, expected in (("Ready", "True"), ("SpecValid", "True"),
                               ("ProxyReachable", "True"), ("TLSIntercepted", "False"),
                               ("GRPCSupported", "True")):
            c = self.condition(status, kind)
            self.assertIsNotNone(c, kind)
            self.assertEqual(c["status"], expected, c)
            self.assertEqual(c["observedGeneration"], 1)
            self.assertRegex(c["reason"], r"^[A-Z][A-Za-z0-9]*$")
        table = self.server.kubectl("get", "proxypolicies", "plain").stdout
        self.assertIn("Supported", table)

    def test_a_proxy_answering_in_latin1_with_control_characters_still_gets_a_status(self):
        # Before the probe made a proxy's text safe, the invalid UTF-8 made every status write
        # and Event of this policy throw: its status stayed empty for good.
        proxy = ScriptedProxy(b"HTTP/1.1 403 Acc\xe8s interdit\x1b[0m\x07\r\n"
                              b"Server: Proxy\xae 2000\r\nX-Squid-Error: ERR_\xff\xfe\r\n"
                              b"Via: 1.1 caf\xe9\r\n\r\n")
        try:
            self.apply(policy_yaml("latin1", proxy.url, self.lab.env["LAB_TARGET"]))
            status = self.wait_status("latin1",
                                      lambda s: s.get("classification") == "Unsupported")
        finally:
            proxy.stop()
        target = status["targets"][0]
        self.assertEqual(target["tunnel"], "Refused")
        self.assertIn("Acc\u00e8s interdit", target["message"])
        self.assertNotIn("\x1b", json.dumps(status, ensure_ascii=False))
        ready = self.condition(status, "Ready")
        self.assertIn("Acc\u00e8s interdit", ready["message"])
        described = wait_for(lambda: (lambda d: d if "Unsupported" in d else None)(
            self.server.kubectl("describe", "proxypolicy", "latin1").stdout), timeout=10)
        self.assertIn("Acc\u00e8s interdit", described)  # the Event was written too
        # And the status can still be written afterwards.
        self.apply(policy_yaml("latin1", self.lab.env["LAB_SQUID"], self.lab.env["LAB_TARGET"]))
        self.wait_status("latin1", lambda s: s.get("classification") == "Supported")

    def test_switch_to_squid_bump_is_unsupported_with_event_and_remedy(self):
        self.apply(policy_yaml("switch", self.lab.env["LAB_SQUID"], self.lab.env["LAB_TARGET"]))
        self.wait_status("switch", lambda s: s.get("classification") == "Supported")
        self.apply(policy_yaml("switch", self.lab.env["LAB_SQUID_BUMP"],
                               self.lab.env["LAB_TARGET"], trust_configmap="bump-ca"))
        status = self.wait_status("switch", lambda s: s.get("classification") == "Unsupported")
        self.assertEqual(status["observedGeneration"], 2)
        grpc = self.condition(status, "GRPCSupported")
        self.assertEqual(grpc["status"], "False")
        self.assertIn("ssl_bump splice", grpc["message"])
        self.assertEqual(status["proxyServer"], "squid/5.7")
        described = wait_for(lambda: (lambda d: d if "from Supported to Unsupported" in d else None)(
            self.server.kubectl("describe", "proxypolicy", "switch").stdout), timeout=10)
        self.assertIn("Warning  Unsupported", described)
        self.assertIn("GRPCSupported", described)
        self.assertIn("ssl_bump splice", described)

    def test_missing_secret_is_spec_invalid_without_a_retry_storm_and_heals(self):
        lab = self.lab.env
        self.apply(policy_yaml("auth", lab["LAB_TINYPROXY_AUTH_NOCREDS"], lab["LAB_TARGET"],
                               credentials="proxy-auth"))
        status = self.wait_status(
            "auth", lambda s: (self.condition(s, "SpecValid") or {}).get("status") == "False")
        self.assertEqual(self.condition(status, "SpecValid")["reason"], "SecretNotFound")
        self.assertEqual(status["classification"], "Unknown")
        before = self.status_patches("auth")
        time.sleep(3)
        self.assertEqual(self.status_patches("auth"), before, "status rewritten while nothing changed")
        # The Secret appears; the policy itself is not touched.
        user, _, password = lab["LAB_TINYPROXY_AUTH"].split("//")[1].split("@")[0].partition(":")
        self.server.kubectl("-n", "agentproxy-system", "create", "secret", "generic", "proxy-auth",
                            f"--from-literal=username={user}",
                            f"--from-literal=password={password}")
        status = self.wait_status("auth", lambda s: s.get("classification") == "Supported",
                                  timeout=15)
        self.assertEqual(self.condition(status, "SpecValid")["status"], "True")
        self.assertNotIn(password, json.dumps(status))
        self.assertNotIn(password, self.operator.log())

    def test_a_secret_of_another_namespace_is_never_read_nor_copied(self):
        """No confused deputy: whoever may write a ProxyPolicy cannot have the operator copy
        another team's Secret into namespaces of their choosing."""
        lab = self.lab.env
        self.server.create_namespace("team-a")
        self.server.create_namespace("deputy", {"agentproxy.io/inject": "deputy"})
        self.server.kubectl("-n", "team-a", "create", "secret", "generic", "db-password",
                            "--from-literal=username=admin", "--from-literal=password=team-a-s3cret")
        text = policy_yaml("deputy", lab["LAB_TINYPROXY"], lab["LAB_TARGET"])
        text = text.replace("  targets:", "    credentialsSecretRef: {namespace: team-a, name: db-password}\n"
                            "  selector:\n"
                            "    namespaceSelector: {matchLabels: {agentproxy.io/inject: deputy}}\n"
                            "  targets:", 1)
        self.apply(text)
        status = self.wait_status(
            "deputy", lambda s: (self.condition(s, "SpecValid") or {}).get("status") == "False")
        spec_valid = self.condition(status, "SpecValid")
        self.assertEqual(spec_valid["reason"], "SourceNamespaceNotTrusted")
        self.assertIn("Secret team-a/db-password", spec_valid["message"])
        self.assertIn("trustSources.namespaces", spec_valid["message"])
        self.assertIsNone(self.server.get("/api/v1/namespaces/deputy/secrets/agentproxy-proxy-deputy"))
        self.assertNotIn("team-a-s3cret", json.dumps(status))
        # The operator could not have read it anyway: it may get Secrets nowhere cluster-wide.
        for namespace_flag in (["-A"], ["-n", "team-a"]):
            answer = self.server.kubectl("auth", "can-i", "get", "secrets", "--as",
                                         "system:serviceaccount:agentproxy-system:agentproxy",
                                         *namespace_flag, check=False)
            self.assertEqual(answer.stdout.strip(), "no", answer.stdout + answer.stderr)
        answer = self.server.kubectl("auth", "can-i", "get", "secrets", "--as",
                                     "system:serviceaccount:agentproxy-system:agentproxy",
                                     "-n", "agentproxy-system", check=False)
        self.assertEqual(answer.stdout.strip(), "yes", answer.stdout + answer.stderr)
        # Nor did it try: no request for Secrets of team-a in the audit log.
        tried = self.server.requests_by(
            "system:serviceaccount:agentproxy-system:agentproxy",
            lambda e: e.get("objectRef", {}).get("resource") == "secrets" and
            e["objectRef"].get("namespace") == "team-a")
        self.assertEqual(tried, [])
        self.server.kubectl("delete", "proxypolicy", "deputy")

    def test_a_ca_configmap_created_or_changed_later_is_read_again(self):
        # The operator remembers the ConfigMaps it has read, found or not, until they change.
        self.apply(policy_yaml("late-ca", self.lab.env["LAB_SQUID"], self.lab.env["LAB_TARGET"],
                               trust_configmap="late-ca"))
        status = self.wait_status(
            "late-ca", lambda s: (self.condition(s, "SpecValid") or {}).get("status") == "False")
        self.assertEqual(self.condition(status, "SpecValid")["reason"], "ConfigMapNotFound")
        self.server.kubectl("-n", "agentproxy-system", "create", "configmap", "late-ca",
                            f"--from-file=ca.crt={self.lab.env['LAB_TARGET_CA']}")
        self.wait_status("late-ca", lambda s: s.get("classification") == "Supported", timeout=15)
        self.server.kubectl("-n", "agentproxy-system", "patch", "configmap", "late-ca",
                            "--type", "merge", "-p", '{"data": {"ca.crt": "not a certificate"}}')
        status = self.wait_status(
            "late-ca", lambda s: (self.condition(s, "SpecValid") or {}).get("status") == "False",
            timeout=15)
        self.assertEqual(self.condition(status, "SpecValid")["reason"], "InvalidPEM")

    def test_a_reconcile_that_changes_nothing_writes_nothing(self):
        self.apply(policy_yaml("quiet", self.lab.env["LAB_SQUID"], self.lab.env["LAB_TARGET"]))
        self.wait_status("quiet", lambda s: s.get("classification") == "Supported")
        time.sleep(1)  # let the write's own watch event be reconciled
        before = self.status_patches("quiet")
        # A metadata change is a watch event and a reconcile, but nothing the status shows.
        self.server.kubectl("label", "proxypolicy", "quiet", "team=platform")
        self.server.kubectl("annotate", "proxypolicy", "quiet", "note=hello")
        time.sleep(2)
        self.assertEqual(self.status_patches("quiet"), before)

    def test_a_deleted_policy_is_no_longer_probed(self):
        self.apply(policy_yaml("gone", self.lab.env["LAB_SQUID"], self.lab.env["LAB_TARGET"]))
        self.wait_status("gone", lambda s: s.get("classification") == "Supported")
        series = 'agentproxy_policy_classification{policy="gone",classification="Supported"}'
        self.assertIn(series + " 1", self.operator_metrics())
        self.server.kubectl("delete", "proxypolicy", "gone")
        wait_for(lambda: 'policy="gone"' not in self.operator_metrics(), timeout=10)
        self.assertIn('"policy deleted: probing stops"', self.operator.log())

    def operator_metrics(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.operator.metrics_port}/metrics",
                                    timeout=2) as response:
            return response.read().decode()

    def test_metrics_and_health(self):
        self.assertEqual(self.operator.metric("agentproxy_leader"), 1.0)
        with urllib.request.urlopen(f"http://127.0.0.1:{self.operator.health_port}/readyz",
                                    timeout=2) as response:
            self.assertEqual(response.status, 200)


class LeaderElectionTest(unittest.TestCase):
    def test_exactly_one_leads_and_the_other_takes_over_when_it_dies(self):
        server = Cluster()
        self.addCleanup(server.stop)
        installation = Installation(server)
        a = installation.operator(name="agentproxy-a")
        self.addCleanup(a.stop)
        # A second replica on this one machine needs a port of its own.
        b = installation.operator(name="agentproxy-b", webhook_port=free_port())
        self.addCleanup(b.stop)
        self.assertIn("--leader-elect", installation.deployment_args())
        leaders = wait_for(
            lambda: (lambda v: v if None not in v and sorted(v) == [0.0, 1.0] else None)(
                [a.metric("agentproxy_leader"), b.metric("agentproxy_leader")]), timeout=30)
        leader, follower = (a, b) if leaders[0] == 1.0 else (b, a)
        time.sleep(3)  # still exactly one after a few renewals
        self.assertEqual(leader.metric("agentproxy_leader"), 1.0)
        self.assertEqual(follower.metric("agentproxy_leader"), 0.0)
        leader.stop(signal.SIGKILL)  # no release: the lease must expire
        killed = time.monotonic()
        wait_for(lambda: follower.metric("agentproxy_leader") == 1.0, timeout=30, interval=0.2)
        self.assertLess(time.monotonic() - killed, 25)
        # A clean stop releases the lease and exits 0.
        self.assertEqual(follower.stop(), 0, follower.log())
        lease = server.ok("GET", f"/apis/coordination.k8s.io/v1/namespaces/{NS}"
                                 "/leases/agentproxy-leader")
        self.assertEqual(lease["spec"].get("holderIdentity", ""), "")


if __name__ == "__main__":
    unittest.main()
