"""Injection end to end on a real control plane: kube-apiserver calls the operator's webhook
for every Pod CREATE (clientConfig.url, caBundle written by the operator, failurePolicy Fail so
that a broken webhook fails the test instead of being ignored), and stores what the JSONPatch
makes of the pod; kube-controller-manager's deployment controller rolls a restarted
Deployment into a new ReplicaSet. Real parts: the control plane, helm, kubectl, the agentproxy
binary running as the chart's ServiceAccount, the proxy lab, OpenSSL.
"""
import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

from certs import make_ca, make_serving_cert  # noqa: E402
from cluster import Cluster, wait_for  # noqa: E402
from installation import MWC, Installation, ca_bundle, policy_status  # noqa: E402
from lab import ProxyLab  # noqa: E402

NS = "agentproxy-system"
PASSWORD = "p@ss:w/rd%1"  # URL-reserved characters: the copy must hold them percent-encoded


def policy_yaml(name, selector_value, proxy, target, restart=False):
    return f"""apiVersion: agentproxy.io/v1alpha1
kind: ProxyPolicy
metadata: {{name: {name}}}
spec:
  proxy:
    httpsProxy: '{proxy}'
    noProxy: [".corp.example"]
    credentialsSecretRef: {{namespace: {NS}, name: proxy-auth}}
  trust:
    caBundles:
      - configMapRef: {{namespace: {NS}, name: corp-ca, key: ca.crt}}
  targets:
    - address: '{target}'
      serverName: mgmt.test
      serverCA: {{configMapRef: {{namespace: {NS}, name: mgmt-ca, key: ca.crt}}}}
  selector:
    namespaceSelector: {{matchLabels: {{agentproxy.io/inject: {selector_value}}}}}
    podSelector: {{matchLabels: {{app: agent}}}}
  injection:
    restartWorkloads: {str(restart).lower()}
"""


def pod_yaml(name, namespace, annotations=None):
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "agent"},
                     "annotations": annotations or {}},
        "spec": {
            "initContainers": [{"name": "init", "image": "busybox:1.36"}],
            "containers": [
                {"name": "agent", "image": "agent:1.0",
                 "env": [{"name": "LOG_LEVEL", "value": "debug"}]},
                {"name": "sidecar", "image": "sidecar:1.0",
                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
            "volumes": [{"name": "data", "emptyDir": {}}]}})


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


class InjectionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = ProxyLab()
        cls.server = Cluster()
        try:
            cls.installation = Installation(cls.server, "webhook.failurePolicy=Fail")
            kubectl = cls.server.kubectl
            for name, key in (("mgmt-ca", "LAB_TARGET_CA"), ("corp-ca", "LAB_SQUID_BUMP_CA")):
                kubectl("-n", NS, "create", "configmap", name,
                        f"--from-file=ca.crt={cls.lab.env[key]}")
            kubectl("-n", NS, "create", "secret", "generic", "proxy-auth",
                    "--from-literal=username=agent", f"--from-literal=password={PASSWORD}")
            cls.webhook_port = cls.installation.webhook_port
            # A Node with its Pod CIDR (no kubelet here: the object alone), for NO_PROXY; the
            # Service CIDR is the API server's own ServiceCIDR "kubernetes".
            kubectl("apply", "-f", "-", input_text=json.dumps({
                "apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"},
                "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]}}))
            cls.operator = cls.installation.operator()
            cls.proxy = cls.lab.env["LAB_SQUID"]
            cls.target = cls.lab.env["LAB_TARGET"]
            cls.wait_ca_bundle()
        except BaseException:
            cls.server.stop()
            cls.lab.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.operator.stop()
        cls.server.stop()
        cls.lab.stop()

    @classmethod
    def wait_ca_bundle(cls, different_from=None):
        def bundle():
            value = ca_bundle(cls.server)
            return value if value and value != different_from else None
        try:
            return wait_for(bundle, timeout=30, interval=0.2)
        except AssertionError:
            raise AssertionError("caBundle never written; operator log:\n" + cls.operator.log())

    # helpers
    def kubectl(self, *args, **kwargs):
        return self.server.kubectl(*args, **kwargs)

    def namespace(self, name, label=None):
        self.server.create_namespace(name, {"agentproxy.io/inject": label} if label else None)

    def get(self, path):
        return self.server.get(path)

    def status(self, name):
        return policy_status(self.server, name)

    def wait(self, what, predicate, timeout=20):
        try:
            return wait_for(predicate, timeout=timeout, interval=0.2)
        except AssertionError:
            self.fail(f"{what} never happened; operator log:\n{self.operator.log()[-6000:]}")

    def condition(self, name, kind):
        return next((c for c in self.status(name).get("conditions", []) if c["type"] == kind),
                    {})

    def create_pod(self, name, namespace, annotations=None):
        self.kubectl("apply", "-f", "-", input_text=pod_yaml(name, namespace, annotations))
        return self.get(f"/api/v1/namespaces/{namespace}/pods/{name}")

    # tests
    def test_serving_certificate_verifies_with_the_ca_bundle(self):
        bundle = base64.b64decode(self.wait_ca_bundle()).decode()
        context = ssl.create_default_context(cadata=bundle)
        with socket.create_connection(("127.0.0.1", self.webhook_port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                self.assertGreaterEqual(tls.version(), "TLSv1.2")
        secret = self.get(f"/api/v1/namespaces/{NS}/secrets/agentproxy-webhook-tls")
        self.assertEqual(sorted(secret["data"]), ["ca.crt", "ca.key", "tls.crt", "tls.key"])

    def test_pod_in_a_selected_namespace_is_stored_injected(self):
        self.namespace("agents", "corp")
        self.kubectl("apply", "-f", "-", input_text=policy_yaml("corp", "corp", self.proxy,
                                                                self.target))
        copies = "/api/v1/namespaces/agents/"
        self.wait("the copies", lambda: self.get(copies + "configmaps/agentproxy-ca-corp") and
                  self.get(copies + "secrets/agentproxy-proxy-corp"))
        secret = self.get(copies + "secrets/agentproxy-proxy-corp")
        self.assertEqual(base64.b64decode(secret["data"]["password"]).decode(),
                         urllib.parse.quote(PASSWORD, safe=""))
        bundle = self.get(copies + "configmaps/agentproxy-ca-corp")["data"]["ca-bundle.crt"]
        with open(self.lab.env["LAB_SQUID_BUMP_CA"], encoding="utf-8") as handle:
            corp_ca = "".join(handle.read().split("-----")[2].split())
        self.assertIn(corp_ca[:60], "".join(bundle.split()))
        self.assertGreater(bundle.count("BEGIN CERTIFICATE"), 50)  # the system CAs stay

        # The webhook reads the policy from its cache: give the watch a moment.
        self.wait("the policy's status", lambda: self.status("corp").get("caBundleHash"))
        pod = self.create_pod("agent-1", "agents")
        annotations = pod["metadata"]["annotations"]
        self.assertEqual(annotations["agentproxy.io/policy"], "corp")
        self.assertIn("agentproxy.io/injection-hash", annotations)
        for container in pod["spec"]["initContainers"] + pod["spec"]["containers"]:
            env = env_of(container)
            for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY",
                         "no_proxy", "GRPC_PROXY", "grpc_proxy", "SSL_CERT_FILE",
                         "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", "NODE_EXTRA_CA_CERTS",
                         "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
                self.assertIn(name, env, container["name"])
            self.assertIn("$(AGENTPROXY_PROXY_PASSWORD)@", env["HTTPS_PROXY"]["value"])
            self.assertEqual(env["AGENTPROXY_PROXY_PASSWORD"]["valueFrom"]["secretKeyRef"],
                             {"name": "agentproxy-proxy-corp", "key": "password"})
            self.assertIn(".corp.example", env["NO_PROXY"]["value"])
            mounts = {m["name"]: m for m in container["volumeMounts"]}
            self.assertTrue(mounts["agentproxy-ca"]["readOnly"])
        self.assertEqual(env_of(pod["spec"]["containers"][0])["LOG_LEVEL"]["value"], "debug")
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        self.assertEqual(volumes["agentproxy-ca"]["configMap"]["name"], "agentproxy-ca-corp")
        self.assertIn("data", volumes)
        stored = json.dumps(pod)
        self.assertNotIn(PASSWORD, stored)
        self.assertNotIn(urllib.parse.quote(PASSWORD, safe=""), stored)

        self.wait("injectedPods 1", lambda: self.status("corp").get("injectedPods") == 1)
        ready = self.condition("corp", "InjectionReady")
        self.assertEqual((ready["status"], ready["reason"]), ("True", "InjectionCurrent"))
        described = self.kubectl("describe", "proxypolicy", "corp").stdout
        self.assertIn("InjectionReady", described)

        # Opted out, and a namespace the policy does not select: stored as sent.
        opted = self.create_pod("agent-2", "agents", {"agentproxy.io/inject": "false"})
        self.assertNotIn("agentproxy.io/policy", opted["metadata"].get("annotations", {}))
        self.assertNotIn("env", opted["spec"]["containers"][1])
        self.namespace("elsewhere")
        other = self.create_pod("agent-3", "elsewhere")
        self.assertNotIn("agentproxy.io/policy", other["metadata"].get("annotations", {}))
        self.assertIsNone(self.get("/api/v1/namespaces/elsewhere/configmaps/agentproxy-ca-corp"))
        self.assertNotIn(PASSWORD, self.operator.log())

    def test_java_and_node_agents_are_stored_with_what_their_runtime_reads(self):
        self.namespace("runtimes", "runtimes")
        self.kubectl("apply", "-f", "-", input_text=policy_yaml("runtimes", "runtimes",
                                                                self.proxy, self.target))
        copies = "/api/v1/namespaces/runtimes/"
        self.wait("the CA copy with its truststore", lambda: (
            self.get(copies + "configmaps/agentproxy-ca-runtimes") or {}).get(
                "binaryData", {}).get("ca-bundle.p12"))
        truststore = base64.b64decode(self.get(copies + "configmaps/agentproxy-ca-runtimes")
                                      ["binaryData"]["ca-bundle.p12"])
        with tempfile.NamedTemporaryFile(suffix=".p12") as handle:
            handle.write(truststore)
            handle.flush()
            listed = subprocess.run(["keytool", "-list", "-storetype", "PKCS12", "-storepass",
                                     "unused", "-keystore", handle.name],
                                    capture_output=True, text=True)
        self.assertGreater(listed.stdout.count("trustedCertEntry"), 50, listed.stdout[-500:])
        self.wait("the policy's status", lambda: self.status("runtimes").get("caBundleHash"))
        status = self.status("runtimes")
        # The cluster's ranges, discovered from the API: the ServiceCIDR and the Node.
        self.assertIn("10.96.0.0/12", status["effectiveNoProxy"].split(","))
        self.assertIn("10.244.0.0/24", status["effectiveNoProxy"].split(","))

        java = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "java-agent", "namespace": "runtimes",
                             "labels": {"app": "agent"}},
                "spec": {"containers": [{
                    "name": "agent", "image": "eclipse-temurin:17-jre",
                    "command": ["java", "-jar", "/app/agent.jar"],
                    "env": [{"name": "JAVA_TOOL_OPTIONS", "value": "-Xmx256m"}]}]}}
        node = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "node-agent", "namespace": "runtimes",
                             "labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "agent", "image": "node:22",
                                         "command": ["node", "/app/agent.js"]}]}}
        for pod in (java, node):
            self.kubectl("apply", "-f", "-", input_text=json.dumps(pod))
        stored_java = self.get(copies + "pods/java-agent")
        stored_node = self.get(copies + "pods/node-agent")
        if os.environ.get("AGENTPROXY_PRINT_STORED_PODS"):
            for name in ("java-agent", "node-agent"):
                print(self.kubectl("-n", "runtimes", "get", "pod", name, "-o", "yaml").stdout)

        env = env_of(stored_java["spec"]["containers"][0])
        options = env["JAVA_TOOL_OPTIONS"]["value"]
        self.assertTrue(options.startswith("-Xmx256m -Dhttps.proxyHost="), options)
        host, port = urllib.parse.urlsplit(self.proxy).hostname, urllib.parse.urlsplit(
            self.proxy).port
        for option in (f"-Dhttps.proxyHost={host}", f"-Dhttps.proxyPort={port}",
                       f"-Dhttp.proxyHost={host}", f"-Dhttp.proxyPort={port}",
                       "-Djavax.net.ssl.trustStore=/etc/agentproxy/ca/ca-bundle.p12",
                       "-Djavax.net.ssl.trustStoreType=PKCS12"):
            self.assertIn(option, options.split(" "))
        non_proxy = next(o for o in options.split(" ") if o.startswith("-Dhttp.nonProxyHosts="))
        self.assertIn("*.corp.example", non_proxy.split("=", 1)[1].split("|"))
        self.assertNotIn("/", non_proxy, "CIDR ranges are left out")
        self.assertNotIn("AGENTPROXY_PROXY", options, "no credentials in JAVA_TOOL_OPTIONS")
        volume = next(v for v in stored_java["spec"]["volumes"] if v["name"] == "agentproxy-ca")
        self.assertIn({"key": "ca-bundle.p12", "path": "ca-bundle.p12"},
                      volume["configMap"]["items"])

        env = env_of(stored_node["spec"]["containers"][0])
        self.assertEqual(env["NODE_USE_ENV_PROXY"]["value"], "1")
        self.assertEqual(env["NODE_EXTRA_CA_CERTS"]["value"], "/etc/agentproxy/ca/ca-bundle.crt")
        self.assertEqual(env["no_grpc_proxy"]["value"], env["no_proxy"]["value"])
        self.assertRegex(env["grpc_proxy"]["value"],
                         r"^http://\$\(AGENTPROXY_PROXY_USER\):\$\(AGENTPROXY_PROXY_PASSWORD\)@"
                         r"[^:/]+:\d+$")
        self.assertNotIn(" ", env["NO_PROXY"]["value"])

        # Every runtime judged. The lab's target is 127.0.0.1, which NO_PROXY holds (a cluster
        # default): every runtime would connect to it directly, and says so.
        self.wait("per-runtime verdicts", lambda: self.status("runtimes").get("targets") and
                  self.status("runtimes")["targets"][0].get("runtimes"), timeout=40)
        target = self.status("runtimes")["targets"][0]
        verdicts = {r["runtime"]: r for r in target["runtimes"]}
        self.assertEqual(sorted(verdicts), ["dotnet", "go", "grpc-core", "jvm", "node"])
        for runtime, verdict in verdicts.items():
            self.assertEqual((verdict["result"], verdict["reason"]),
                             ("Unsupported", "TargetInNoProxy"), runtime)
        self.assertIn("jvm Unsupported (TargetInNoProxy)", target["runtimeSummary"])
        self.assertEqual(target["classification"], "Supported", "not counted without agentRuntimes")
        self.assertTrue(any("jvm" in w and "TargetInNoProxy" in w
                            for w in self.status("runtimes").get("warnings", [])))
        described = self.kubectl("describe", "proxypolicy", "runtimes").stdout
        self.assertIn("Runtime Summary", described)

    def test_copies_follow_their_sources_and_the_selection(self):
        self.namespace("follow", "follow")
        self.kubectl("apply", "-f", "-", input_text=policy_yaml("follow", "follow", self.proxy,
                                                                self.target))
        path = "/api/v1/namespaces/follow/configmaps/agentproxy-ca-follow"
        first = self.wait("the CA copy", lambda: self.get(path))
        hash_before = self.wait("caBundleHash", lambda: self.status("follow").get("caBundleHash"))
        self.create_pod("old", "follow")
        self.wait("injectedPods 1", lambda: self.status("follow").get("injectedPods") == 1)

        # The source ConfigMap gains a second CA: the copy, the hash and the pods follow.
        with open(self.lab.env["LAB_SQUID_BUMP_CA"], encoding="utf-8") as a, \
                open(self.lab.env["LAB_TARGET_CA"], encoding="utf-8") as b:
            both = a.read() + b.read()
        with tempfile.NamedTemporaryFile("w", suffix=".crt") as handle:
            handle.write(both)
            handle.flush()
            manifest = self.kubectl("-n", NS, "create", "configmap", "corp-ca",
                                    f"--from-file=ca.crt={handle.name}", "--dry-run=client",
                                    "-o", "yaml").stdout
            self.kubectl("apply", "-f", "-", input_text=manifest)
        count = first["data"]["ca-bundle.crt"].count("BEGIN CERTIFICATE")
        self.wait("the copy updated", lambda: self.get(path)["data"]["ca-bundle.crt"].count(
            "BEGIN CERTIFICATE") == count + 1)
        self.wait("a new caBundleHash",
                  lambda: self.status("follow").get("caBundleHash") not in (None, hash_before))
        self.wait("the pod counted stale", lambda: self.status("follow").get("stalePods") == 1)
        stale = self.condition("follow", "InjectionReady")
        self.assertEqual((stale["status"], stale["reason"]), ("False", "StalePods"))
        self.assertIn("restartWorkloads", stale["message"])

        # The proxy password changes: the credentials copy follows (then it is set back).
        secret_path = "/api/v1/namespaces/follow/secrets/agentproxy-proxy-follow"
        for password in ("rotated-password", PASSWORD):
            self.server.ok("PATCH", f"/api/v1/namespaces/{NS}/secrets/proxy-auth",
                           {"stringData": {"password": password}},
                           content_type="application/merge-patch+json")
            self.wait("the credentials copy updated", lambda: base64.b64decode(
                self.get(secret_path)["data"]["password"]).decode() ==
                urllib.parse.quote(password, safe=""))
            # What tells the operator the copy is current is keyed by a secret of its own: no
            # unkeyed hash of the password is stored anywhere.
            annotation = self.get(secret_path)["metadata"]["annotations"][
                "agentproxy.io/content-hash"]
            self.assertTrue(annotation.startswith("hmac-sha256:"), annotation)

        # Someone deletes the copy: it comes back. The namespace leaves: the copies go.
        self.server.ok("DELETE", path)
        self.wait("the copy restored", lambda: self.get(path))
        self.kubectl("label", "namespace", "follow", "agentproxy.io/inject-")
        self.wait("the copies removed", lambda: self.get(path) is None and self.get(
            "/api/v1/namespaces/follow/secrets/agentproxy-proxy-follow") is None)

    def test_an_object_it_does_not_manage_is_never_taken_over(self):
        self.namespace("taken", "taken")
        # Someone's own Secret happens to have the credentials copy's name.
        self.kubectl("-n", "taken", "create", "secret", "generic", "agentproxy-proxy-taken",
                     "--from-literal=password=theirs")
        before = self.get("/api/v1/namespaces/taken/secrets/agentproxy-proxy-taken")
        self.kubectl("apply", "-f", "-", input_text=policy_yaml("taken", "taken", self.proxy,
                                                                self.target))
        conflict = self.wait("a CopyConflict", lambda: (lambda c: c if c.get("reason") ==
                             "CopyConflict" else None)(self.condition("taken", "InjectionReady")))
        self.assertEqual(conflict["status"], "False")
        self.assertIn("Secret taken/agentproxy-proxy-taken", conflict["message"])
        self.assertIn("not managed by agentproxy", conflict["message"])
        # Left exactly as it was; the CA copy, which conflicts with nothing, is in place.
        after = self.get("/api/v1/namespaces/taken/secrets/agentproxy-proxy-taken")
        self.assertEqual(after["metadata"]["resourceVersion"], before["metadata"]["resourceVersion"])
        self.assertEqual(base64.b64decode(after["data"]["password"]), b"theirs")
        self.assertNotIn("ownerReferences", after["metadata"])
        self.assertIsNotNone(self.get("/api/v1/namespaces/taken/configmaps/agentproxy-ca-taken"))
        # Its owner removes it: the copy is written at the next look.
        self.server.ok("DELETE", "/api/v1/namespaces/taken/secrets/agentproxy-proxy-taken")
        self.wait("the copy written", lambda: (self.get(
            "/api/v1/namespaces/taken/secrets/agentproxy-proxy-taken") or {}).get(
            "metadata", {}).get("labels", {}).get("app.kubernetes.io/managed-by") == "agentproxy",
            timeout=60)
        self.kubectl("delete", "proxypolicy", "taken")

    def test_rotation_keeps_admission_working(self):
        self.namespace("rotate", "rotate")
        self.kubectl("apply", "-f", "-", input_text=policy_yaml("rotate", "rotate", self.proxy,
                                                                self.target))
        self.wait("the copies", lambda: self.get(
            "/api/v1/namespaces/rotate/configmaps/agentproxy-ca-rotate"))
        before = self.wait_ca_bundle()
        self.server.ok("DELETE", f"/api/v1/namespaces/{NS}/secrets/agentproxy-webhook-tls")
        after = self.wait_ca_bundle(different_from=before)
        self.assertNotEqual(before, after)
        # The server reloads the new certificate without a restart; failurePolicy is Fail, so a
        # certificate the API server does not trust would reject the pod.
        pod = self.wait("admission with the new certificate",
                        lambda: self.try_create_pod("after-rotation", "rotate"))
        self.assertEqual(pod["metadata"]["annotations"]["agentproxy.io/policy"], "rotate")
        # A Secret whose key no longer matches its certificate is replaced by the leader, with
        # the same CA (so the caBundle stays), and admission goes on.
        secret = f"/api/v1/namespaces/{NS}/secrets/agentproxy-webhook-tls"
        stored = self.get(secret)
        other_key = make_serving_cert(tempfile.mkdtemp(dir=self.server.dir), "other",
                                      make_ca(tempfile.mkdtemp(dir=self.server.dir)))[1]
        with open(other_key, "rb") as handle:
            broken_key = base64.b64encode(handle.read()).decode()
        self.server.ok("PATCH", secret, {"data": {"tls.key": broken_key}},
                       content_type="application/merge-patch+json")
        self.wait("the broken Secret replaced", lambda: self.get(secret)["data"]["tls.key"] not in
                  (broken_key, stored["data"]["tls.key"]), timeout=60)
        self.assertEqual(self.get(secret)["data"]["ca.crt"], stored["data"]["ca.crt"])
        self.assertIsNotNone(self.wait("admission after the repair", lambda: self.try_create_pod(
            "after-repair", "rotate")))
        self.assertIsNone(self.operator.process.poll())

    def try_create_pod(self, name, namespace):
        result = self.kubectl("apply", "-f", "-", input_text=pod_yaml(name, namespace),
                              check=False)
        if result.returncode != 0:
            return None
        return self.get(f"/api/v1/namespaces/{namespace}/pods/{name}")

    def replica_sets(self, namespace):
        return self.get(f"/apis/apps/v1/namespaces/{namespace}/replicasets")["items"]

    def test_restart_workloads_rolls_a_stale_deployment_once(self):
        self.namespace("apps")  # not selected yet: the first pod starts without injection
        template = json.loads(pod_yaml("unused", "apps"))
        for key in ("apiVersion", "kind"):
            del template[key]
        del template["metadata"]["name"], template["metadata"]["namespace"]
        self.server.apply({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "agent", "namespace": "apps"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "agent"}},
                     "template": template}})
        # kube-controller-manager makes the ReplicaSet and its pod (Pending: no scheduler).
        first = self.wait("the first ReplicaSet", lambda: self.replica_sets("apps"))[0]
        pods = self.wait("the first pod", lambda: self.get("/api/v1/namespaces/apps/pods")[
            "items"])
        self.assertNotIn("agentproxy.io/policy", pods[0]["metadata"].get("annotations", {}))
        path = "/apis/apps/v1/namespaces/apps/deployments/agent"
        generation = self.get(path)["metadata"]["generation"]

        self.kubectl("apply", "-f", "-", input_text=policy_yaml("restart", "restart", self.proxy,
                                                                self.target, restart=True))
        self.kubectl("label", "namespace", "apps", "agentproxy.io/inject=restart")
        restarted = self.wait("the Deployment restarted", lambda: (lambda d: d if d["spec"][
            "template"]["metadata"].get("annotations", {}).get(
            "agentproxy.io/restarted-for-hash") else None)(self.get(path)), timeout=40)
        self.assertEqual(restarted["metadata"]["generation"], generation + 1)
        self.assertIn("agentproxy.io/restartedAt",
                      restarted["spec"]["template"]["metadata"]["annotations"])
        # The deployment controller rolls it: a new ReplicaSet, owned by the Deployment, whose
        # pod the webhook injects.
        rolled = self.wait("a new ReplicaSet", lambda: [
            r for r in self.replica_sets("apps") if r["metadata"]["uid"] != first["metadata"]["uid"]])
        self.assertEqual(rolled[0]["metadata"]["ownerReferences"][0]["name"], "agent")
        new_pod = self.wait("the new ReplicaSet's pod", lambda: [
            p for p in self.get("/api/v1/namespaces/apps/pods")["items"]
            if p["metadata"]["name"].startswith(rolled[0]["metadata"]["name"] + "-")])[0]
        self.assertEqual(new_pod["metadata"]["annotations"]["agentproxy.io/policy"], "restart")
        self.assertIn("HTTPS_PROXY", env_of(new_pod["spec"]["containers"][0]))
        events = self.kubectl("get", "events", "-A", "--field-selector",
                              "reason=WorkloadRestarted", "-o", "json").stdout
        self.assertIn("Deployment apps/agent", events)

        # No kubelet makes the new pod ready, so the old one stays, stale; neither time nor a
        # new operator restarts the Deployment again for the same injection.
        generation = self.get(path)["metadata"]["generation"]
        self.operator.stop()
        type(self).operator = self.installation.operator()
        self.wait("the new operator reconciling", lambda: self.status("restart").get(
            "stalePods") == 1 and "reconciling ProxyPolicies" in self.operator.log(), timeout=40)
        time.sleep(3)
        self.assertEqual(self.get(path)["metadata"]["generation"], generation)

    def test_bad_requests_are_refused_and_the_webhook_keeps_serving(self):
        bundle = base64.b64decode(self.wait_ca_bundle()).decode()
        context = ssl.create_default_context(cadata=bundle)

        def post(body, content_type="application/json", path="/mutate-v1-pod"):
            with socket.create_connection(("127.0.0.1", self.webhook_port), timeout=5) as raw:
                with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
                            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
                    tls.sendall(head.encode())
                    try:
                        tls.sendall(body)
                    except OSError:
                        pass  # the server may answer 413 and close before reading it all
                    answer = b""
                    while True:
                        try:
                            chunk = tls.recv(65536)
                        except (OSError, ssl.SSLError):
                            break
                        if not chunk:
                            break
                        answer += chunk
            return int(answer.split(b" ", 2)[1]), answer

        self.assertEqual(post(b'{"apiVersion": "admission.k8s.io/v1", "kind": "Admiss')[0], 400)
        self.assertEqual(post(b"{}", content_type="text/plain")[0], 415)
        self.assertEqual(post(b"{}", path="/other")[0], 404)
        self.assertEqual(post(b"x" * (10 * 1024 * 1024))[0], 413)
        code, answer = post(json.dumps({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u1", "operation": "CREATE", "namespace": "x",
                        "object": {"apiVersion": "v1", "kind": "ConfigMap"}}}).encode())
        self.assertEqual(code, 200)
        self.assertIn(b'"allowed":false', answer)
        self.namespace("still", "still")
        self.assertIsNotNone(self.try_create_pod("still-works", "still"))
        self.assertIsNone(self.operator.process.poll())


    def test_the_password_is_stored_only_in_the_secrets_meant_to_hold_it(self):
        """Every object the API server stores (each listable resource of every group, as the
        admin), every key in etcd (raw), the operator's log and the audit log, searched for the proxy password in each
        form it takes: it is only in the source Secret and the operator's credentials copies."""
        self.namespace("scan", "scan")
        self.kubectl("apply", "-f", "-", input_text=policy_yaml("scan", "scan", self.proxy,
                                                                self.target))
        self.wait("the credentials copy", lambda: self.get(
            "/api/v1/namespaces/scan/secrets/agentproxy-proxy-scan"))
        self.create_pod("agent", "scan")
        self.wait("the status", lambda: self.status("scan").get("classification"))
        encoded = urllib.parse.quote(PASSWORD, safe="")
        forms = {"plain": PASSWORD, "percent-encoded": encoded,
                 "base64": base64.b64encode(PASSWORD.encode()).decode(),
                 "base64 of the percent-encoded": base64.b64encode(encoded.encode()).decode(),
                 "Proxy-Authorization": base64.b64encode(f"agent:{PASSWORD}".encode()).decode()}

        def found_in(text):
            return sorted(name for name, form in forms.items() if form in text)

        lists = []
        for version in self.get("/api")["versions"]:
            lists.append(f"/api/{version}")
        for group in self.get("/apis")["groups"]:
            lists.append(f"/apis/{group['preferredVersion']['groupVersion']}")
        holders, resources = [], 0
        for base in lists:
            for resource in self.get(base)["resources"]:
                if "/" in resource["name"] or "list" not in resource.get("verbs", []):
                    continue
                answer = self.get(f"{base}/{resource['name']}")
                if answer is None:
                    continue
                resources += 1
                for item in answer.get("items", []):
                    hits = found_in(json.dumps(item))
                    if hits:
                        meta = item["metadata"]
                        holders.append((resource["name"], meta.get("namespace", ""),
                                        meta["name"], tuple(hits)))
        self.assertGreater(resources, 30, "discovery listed too few resources to mean anything")
        allowed = {("secrets", NS, "proxy-auth")}
        for resource, namespace, name, hits in holders:
            if name.startswith("agentproxy-proxy-") and resource == "secrets":
                continue  # a credentials copy: it holds the percent-encoded form, as base64
            self.assertIn((resource, namespace, name), allowed,
                          f"{resource} {namespace}/{name} holds the password ({', '.join(hits)})")
        self.assertIn(("secrets", NS, "proxy-auth"), [h[:3] for h in holders])
        self.assertIn(("secrets", "scan", "agentproxy-proxy-scan"), [h[:3] for h in holders])
        # etcd itself, every key: the raw bytes the API server stored (a Secret's data is there
        # unencoded), so the plain and the percent-encoded forms are searched as bytes too.
        stored, keys = [], 0
        for key, value in self.server.etcd_items():
            keys += 1
            text = value.decode("latin-1")
            hits = found_in(text)
            if hits:
                stored.append((key, tuple(hits)))
        self.assertGreater(keys, 100, "etcd answered too few keys to mean anything")
        for key, hits in stored:
            copy = key.startswith("/registry/secrets/") and \
                key.rsplit("/", 1)[1].startswith("agentproxy-proxy-")
            self.assertTrue(copy or key == f"/registry/secrets/{NS}/proxy-auth",
                            f"etcd key {key} holds the password ({', '.join(hits)})")
        self.assertIn(f"/registry/secrets/{NS}/proxy-auth", [k for k, _ in stored])
        self.assertIn("/registry/secrets/scan/agentproxy-proxy-scan", [k for k, _ in stored])
        print(f"\netcd scan: {keys} keys, the password (plain, percent-encoded, base64, "
              f"Proxy-Authorization) only in {', '.join(sorted(k for k, _ in stored))}")
        self.assertEqual(found_in(self.operator.log()), [], "the operator's log")
        with open(os.path.join(self.server.dir, "audit.log"), encoding="utf-8") as handle:
            self.assertEqual(found_in(handle.read()), [], "the audit log")
        self.kubectl("delete", "proxypolicy", "scan")


class CertManagerModeTest(unittest.TestCase):
    """certManager.enabled: the operator serves certificates mounted from the Secret cert-manager
    keeps (here, files written by the test, as the kubelet would), reloaded when they change;
    the caBundle is cert-manager's CA injector's business (here, the test patches it)."""

    def setUp(self):
        self.lab = ProxyLab()
        self.addCleanup(self.lab.stop)
        self.server = Cluster()
        self.addCleanup(self.server.stop)
        self.dir = tempfile.mkdtemp(prefix="certdir-", dir=self.server.dir)

    def issue(self, name):
        """A new CA and serving certificate, swapped in as the kubelet does: a new directory,
        then one rename."""
        ca = make_ca(self.dir, name + "-ca")
        cert, key = make_serving_cert(self.dir, name, ca, dns_names=(), ips=("127.0.0.1",))
        staging = os.path.join(self.dir, name + "-files")
        os.makedirs(staging)
        for source, target in ((cert, "tls.crt"), (key, "tls.key")):
            with open(source, "rb") as src, open(os.path.join(staging, target), "wb") as dst:
                dst.write(src.read())
        link = os.path.join(self.dir, "current")
        os.symlink(staging, link + ".new")
        os.replace(link + ".new", link)
        with open(ca[0], "rb") as handle:
            return base64.b64encode(handle.read()).decode()

    def set_ca_bundle(self, bundle):
        self.server.ok("PATCH", MWC, [{"op": "add", "path": "/webhooks/0/clientConfig/caBundle",
                                       "value": bundle}],
                       content_type="application/json-patch+json")

    def test_mounted_certificates_are_served_and_reloaded(self):
        kubectl, lab = self.server.kubectl, self.lab.env
        kubectl("apply", "-f", os.path.join(ROOT, "tests", "charts", "testdata",
                                            "third-party-crds.yaml"))
        installation = Installation(self.server, "certManager.enabled=true",
                                    "webhook.failurePolicy=Fail")
        kubectl("-n", NS, "create", "configmap", "mgmt-ca",
                f"--from-file=ca.crt={lab['LAB_TARGET_CA']}")
        kubectl("-n", NS, "create", "configmap", "corp-ca",
                f"--from-file=ca.crt={lab['LAB_SQUID_BUMP_CA']}")
        kubectl("-n", NS, "create", "secret", "generic", "proxy-auth",
                "--from-literal=username=agent", "--from-literal=password=secret")
        self.set_ca_bundle(self.issue("first"))
        args = [a for a in installation.deployment_args()
                if not a.startswith("--webhook-cert-dir")]
        self.assertEqual(len(args) + 1, len(installation.deployment_args()),
                         "the chart passes --webhook-cert-dir in cert-manager mode")
        operator = installation.operator(args=args + ["--webhook-cert-dir",
                                                      os.path.join(self.dir, "current")])
        self.addCleanup(operator.stop)
        self.server.create_namespace("cm", {"agentproxy.io/inject": "cm"})
        kubectl("apply", "-f", "-", input_text=policy_yaml("cm", "cm", lab["LAB_SQUID"],
                                                           lab["LAB_TARGET"]))
        # The webhook reads the policy from its cache: a pod created before the operator has
        # seen the policy is admitted as it is (found with the slow ThreadSanitizer binary).
        try:
            wait_for(lambda: policy_status(self.server, "cm").get("caBundleHash"), timeout=30,
                     interval=0.2)
        except AssertionError:
            self.fail(f"the policy's status never came; operator log:\n{operator.log()[-4000:]}")

        def admitted(name):
            def attempt():
                result = kubectl("apply", "-f", "-", input_text=pod_yaml(name, "cm"), check=False)
                return self.server.get(f"/api/v1/namespaces/cm/pods/{name}") \
                    if result.returncode == 0 else None
            try:
                return wait_for(attempt, timeout=30, interval=0.3)
            except AssertionError:
                self.fail(f"{name} never admitted; operator log:\n{operator.log()[-4000:]}")

        pod = admitted("before")
        self.assertEqual(pod["metadata"]["annotations"]["agentproxy.io/policy"], "cm")
        # cert-manager's business: no Secret of the operator's own, caBundle untouched.
        self.assertIsNone(self.server.get(f"/api/v1/namespaces/{NS}/secrets/agentproxy-webhook-tls"))
        first = ca_bundle(self.server)

        # Renewal with a new CA: new files, cert-manager's injector updates the caBundle.
        renewed = self.issue("second")
        self.assertNotEqual(renewed, first)
        self.set_ca_bundle(renewed)
        pod = admitted("after")
        self.assertEqual(pod["metadata"]["annotations"]["agentproxy.io/policy"], "cm")
        self.assertIn('"webhook serving certificate loaded"', operator.log())
        self.assertIsNone(operator.process.poll())


if __name__ == "__main__":
    unittest.main()
