"""The whole product as a user installs it: `helm install` of charts/agentproxy into the test
API server, the operator run as a local process in place of its Deployment (no kubelet runs
pods here) with the flags the chart gives it, ProxyPolicies for a Supported, a Warn and an
Unsupported proxy of the lab, an agent pod created with kubectl; then `helm upgrade` with
changed values and `helm uninstall`.
"""
import json
import os
import unittest

from operator_test import ROOT, ApiServer, Operator, ProxyLab, free_port, wait_for

NS = "agentproxy-system"
CHART = os.path.join(ROOT, "charts", "agentproxy")
MWC = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/agentproxy"


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
        self.server = ApiServer()
        self.addCleanup(self.server.stop)
        self.operator = None
        self.addCleanup(lambda: self.operator and self.operator.stop())

    def helm(self, *args):
        return self.server.run("helm", *args, timeout=120)

    def get(self, path):
        status, body, _ = self.server.request("GET", path)
        return body if status == 200 else None

    def wait(self, what, predicate, timeout=30):
        try:
            return wait_for(predicate, timeout=timeout, interval=0.2)
        except AssertionError:
            log = self.operator.log()[-6000:] if self.operator else ""
            policies = self.server.kubectl("get", "proxypolicies", "-o", "json", check=False)
            self.fail(f"{what} never happened; policies:\n{policies.stdout}\n"
                      f"operator log:\n{log}")

    def test_install_use_upgrade_uninstall(self):
        kubectl, lab = self.server.kubectl, self.lab.env
        installed = self.helm("install", "agentproxy", CHART, "-n", NS, "--create-namespace")
        self.assertIn("STATUS: deployed", installed.stdout)
        self.assertIn("kubectl get proxypolicies", installed.stdout)  # NOTES.txt
        deployment = self.get(f"/apis/apps/v1/namespaces/{NS}/deployments/agentproxy")
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        self.assertIn("--leader-elect", args)

        # The operator with the Deployment's own arguments, but for local addresses; the
        # webhook Service reaches it as kube-proxy would.
        port = free_port()
        self.server.ok("POST", "/_test/services",
                       {"namespace": NS, "name": "agentproxy-webhook", "port": port})
        local = [a for a in args if not a.startswith(("--metrics-addr", "--health-addr",
                                                      "--webhook-addr"))]
        self.operator = Operator(self.server, *local, webhook_port=port)
        self.wait("the caBundle", lambda: self.get(MWC)["webhooks"][0]["clientConfig"].get(
            "caBundle"))

        for name, key in (("mgmt-ca", "LAB_TARGET_CA"), ("mitm-ca", "LAB_INTERCEPTOR_CA"),
                          ("bump-ca", "LAB_SQUID_BUMP_CA")):
            kubectl("-n", NS, "create", "configmap", name, f"--from-file=ca.crt={lab[key]}")
        policies = [policy("plain", lab["LAB_SQUID"], lab["LAB_TARGET"]),
                    policy("mitm", lab["LAB_INTERCEPTOR"], lab["LAB_TARGET"], "mitm-ca"),
                    policy("bump", lab["LAB_SQUID_BUMP"], lab["LAB_TARGET"], "bump-ca")]
        for p in policies:
            kubectl("apply", "-f", "-", input_text=json.dumps(p))
        expected = {"plain": "Supported", "mitm": "Warn", "bump": "Unsupported"}
        self.wait("the three classifications", timeout=60, predicate=lambda: all(
            (self.get(f"/apis/agentproxy.io/v1alpha1/proxypolicies/{n}") or {}).get(
                "status", {}).get("classification") == c for n, c in expected.items()))
        table = kubectl("get", "proxypolicies").stdout
        for name, classification in expected.items():
            self.assertRegex(table, rf"{name}\s+{classification}\s")
        described = kubectl("describe", "proxypolicy", "bump").stdout
        self.assertIn("ssl_bump splice", described)
        self.assertIn("Warning  Unsupported", described)

        kubectl("create", "namespace", "agents")
        kubectl("label", "namespace", "agents", "agentproxy.io/inject=plain")
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
        bundle = self.get(MWC)["webhooks"][0]["clientConfig"]["caBundle"]
        self.helm("upgrade", "agentproxy", CHART, "-n", NS, "--set",
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
                 "Service": f"/api/v1/namespaces/{NS}/services/agentproxy-webhook",
                 "Deployment": f"/apis/apps/v1/namespaces/{NS}/deployments/agentproxy",
                 "MutatingWebhookConfiguration": MWC}
        for kind, path in kinds.items():
            self.assertIn(f"kind: {kind}", rendered)
            self.assertIsNone(self.get(path), f"{kind} left behind")
        self.assertIsNotNone(self.get(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
            "proxypolicies.agentproxy.io"))
        self.assertIsNotNone(self.get("/apis/agentproxy.io/v1alpha1/proxypolicies/plain"))
        # What the operator created itself belongs to what the uninstall removed or kept, so a
        # cluster's garbage collector follows (the test API server runs no collector).
        secret = self.get(f"/api/v1/namespaces/{NS}/secrets/agentproxy-webhook-tls")
        self.assertEqual(secret["metadata"]["ownerReferences"][0]["kind"],
                         "MutatingWebhookConfiguration")
        copy = self.get("/api/v1/namespaces/agents/configmaps/agentproxy-ca-plain")
        self.assertEqual(copy["metadata"]["ownerReferences"][0]["kind"], "ProxyPolicy")


if __name__ == "__main__":
    unittest.main()
