"""The whole product as a user installs it, on a real control plane: `helm install` of
charts/agentproxy, the operator run as a local process in place of its Deployment (no
kubelet runs pods here) with the flags the chart gives it and the chart's ServiceAccount,
ProxyPolicies for a Supported, a Warn and an Unsupported proxy of the lab, an agent pod
created with kubectl; then `helm upgrade` with changed values and `helm uninstall`, after
which kube-controller-manager's garbage collector removes what the operator created.
"""
import json
import os
import sys
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

from cluster import Cluster, wait_for  # noqa: E402
from installation import CHART, MWC, NS, Installation, ca_bundle  # noqa: E402
from lab import ProxyLab  # noqa: E402

def policy(name, proxy, target, ca=None, inject=None):
    spec = {"proxy": {"httpsProxy": proxy},
            "targets": [{"address": target, "serverName": "mgmt.test",
                         "serverCA": {"configMapRef": {"namespace": NS, "name": "mgmt-ca",
                                                       "key": "ca.crt"}}}],
            "selector": {"namespaceSelector": {"matchLabels": {
                "agentproxy.io/inject": inject or name}}},
            # A loaded CI machine can make mitmproxy (Python) slow to answer: be patient.
            "probe": {"timeout": "20s"}}
    if ca:
        spec["trust"] = {"caBundles": [{"configMapRef": {"namespace": NS, "name": ca,
                                                          "key": "ca.crt"}}]}
    return {"apiVersion": "agentproxy.io/v1alpha1", "kind": "ProxyPolicy",
            "metadata": {"name": name}, "spec": spec}


class HelmInstallTest(unittest.TestCase):
    def setUp(self):
        self.lab = ProxyLab()
        self.addCleanup(self.lab.stop)
        self.server = Cluster()
        self.addCleanup(self.server.stop)
        self.operator = None
        self.addCleanup(lambda: self.operator and self.operator.stop())

    def helm(self, *args):
        return self.server.helm(*args)

    def get(self, path):
        return self.server.get(path)

    def wait(self, what, predicate, timeout=40):
        try:
            return wait_for(predicate, timeout=timeout, interval=0.2)
        except AssertionError:
            log = self.operator.log()[-6000:] if self.operator else ""
            policies = self.server.kubectl("get", "proxypolicies", "-o", "json", check=False)
            self.fail(f"{what} never happened; policies:\n{policies.stdout}\n"
                      f"operator log:\n{log}")

    def test_install_use_upgrade_uninstall(self):
        kubectl, lab = self.server.kubectl, self.lab.env
        installation = Installation(self.server)
        self.assertIn("STATUS: deployed", installation.installed.stdout)
        self.assertIn("kubectl get proxypolicies", installation.installed.stdout)  # NOTES.txt
        args = installation.deployment_args()
        self.assertIn("--leader-elect", args)
        self.assertIn(f"--webhook-url=https://127.0.0.1:{installation.webhook_port}/mutate-v1-pod",
                      args)
        self.operator = installation.operator()
        self.wait("the caBundle", lambda: ca_bundle(self.server))

        for name, key in (("mgmt-ca", "LAB_TARGET_CA"), ("mitm-ca", "LAB_INTERCEPTOR_CA"),
                          ("bump-ca", "LAB_SQUID_BUMP_CA")):
            kubectl("-n", NS, "create", "configmap", name, f"--from-file=ca.crt={lab[key]}")
        policies = [policy("plain", lab["LAB_SQUID"], lab["LAB_TARGET"]),
                    policy("mitm", lab["LAB_INTERCEPTOR"], lab["LAB_TARGET"], "mitm-ca"),
                    policy("bump", lab["LAB_SQUID_BUMP"], lab["LAB_TARGET"], "bump-ca")]
        for p in policies:
            kubectl("apply", "-f", "-", input_text=json.dumps(p))
        expected = {"plain": "Supported", "mitm": "Warn", "bump": "Unsupported"}
        self.wait("the three classifications", timeout=90, predicate=lambda: all(
            (self.get(f"/apis/agentproxy.io/v1alpha1/proxypolicies/{n}") or {}).get(
                "status", {}).get("classification") == c for n, c in expected.items()))
        table = kubectl("get", "proxypolicies").stdout
        for name, classification in expected.items():
            self.assertRegex(table, rf"{name}\s+{classification}\s")
        described = kubectl("describe", "proxypolicy", "bump").stdout
        self.assertIn("ssl_bump splice", described)
        self.assertIn("Warning  Unsupported", described)

        self.server.create_namespace("agents", {"agentproxy.io/inject": "plain"})
        self.wait("the CA copy", lambda: self.get(
            "/api/v1/namespaces/agents/configmaps/agentproxy-ca-plain"))
        kubectl("-n", "agents", "apply", "-f", "-", input_text=json.dumps({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "agent", "labels": {"app": "agent"}},
            "spec": {"containers": [{"name": "agent", "image": "agent:1.0"}]}}))
        pod = self.get("/api/v1/namespaces/agents/pods/agent")
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        self.assertEqual(env["HTTPS_PROXY"], lab["LAB_SQUID"])
        self.assertEqual(env["SSL_CERT_FILE"], "/etc/agentproxy/ca/ca-bundle.crt")
        self.assertEqual(pod["metadata"]["annotations"]["agentproxy.io/policy"], "plain")

        # helm upgrade with changed values: the operator's caBundle survives, the new value
        # applies, admission keeps working.
        bundle = ca_bundle(self.server)
        self.helm("upgrade", "agentproxy", CHART, "-n", NS, "--reuse-values", "--set",
                  "webhook.failurePolicy=Fail", "--set", "replicas=3")
        config = self.get(MWC)
        self.assertEqual(config["webhooks"][0]["failurePolicy"], "Fail")
        self.assertEqual(config["webhooks"][0]["clientConfig"]["caBundle"], bundle)
        self.assertEqual(self.get(f"/apis/apps/v1/namespaces/{NS}/deployments/agentproxy")[
            "spec"]["replicas"], 3)
        kubectl("-n", "agents", "apply", "-f", "-", input_text=json.dumps({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "agent-2", "labels": {"app": "agent"}},
            "spec": {"containers": [{"name": "agent", "image": "agent:1.0"}]}}))
        self.assertIn("agentproxy.io/policy", self.get(
            "/api/v1/namespaces/agents/pods/agent-2")["metadata"]["annotations"])

        # helm uninstall (the Deployment goes, so the operator stops first): nothing of the
        # chart is left but the CRD and its policies (crds.keep).
        rendered = self.helm("get", "manifest", "agentproxy", "-n", NS).stdout
        self.operator.stop()
        self.helm("uninstall", "agentproxy", "-n", NS)
        kinds = {"ServiceAccount": f"/api/v1/namespaces/{NS}/serviceaccounts/agentproxy",
                 "Deployment": f"/apis/apps/v1/namespaces/{NS}/deployments/agentproxy",
                 "MutatingWebhookConfiguration": MWC}
        for kind, path in kinds.items():
            self.assertIn(f"kind: {kind}", rendered)
            self.assertIsNone(self.get(path), f"{kind} left behind")
        self.assertIsNotNone(self.get(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
            "proxypolicies.agentproxy.io"))
        self.assertIsNotNone(self.get("/apis/agentproxy.io/v1alpha1/proxypolicies/plain"))
        # What the operator created belongs to what it serves: the garbage collector removes
        # the webhook's certificate Secret with the webhook configuration, and a policy's
        # copies with the policy.
        self.wait("the webhook Secret garbage-collected", lambda: self.get(
            f"/api/v1/namespaces/{NS}/secrets/agentproxy-webhook-tls") is None)
        copy = "/api/v1/namespaces/agents/configmaps/agentproxy-ca-plain"
        self.assertEqual(self.get(copy)["metadata"]["ownerReferences"][0]["kind"], "ProxyPolicy")
        kubectl("delete", "proxypolicy", "plain")
        self.wait("the CA copy garbage-collected", lambda: self.get(copy) is None)
        # The Deployment's ReplicaSets and Pending pods went with it too.
        self.wait("the operator's pods garbage-collected", lambda: not self.get(
            f"/api/v1/namespaces/{NS}/pods?labelSelector=app.kubernetes.io/name%3Dagentproxy")[
            "items"])


if __name__ == "__main__":
    unittest.main()
