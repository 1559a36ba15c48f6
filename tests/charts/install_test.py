"""The chart and the plain manifests installed as a user would, with the real helm and kubectl
against a real control plane (scripts/cluster.sh): install, the objects in place, the
webhook's namespace exclusions and failurePolicy (counted by the API server's own metrics),
upgrade with changed values (keeping the caBundle the operator wrote), and uninstall leaving
only the CRD when crds.keep is true, nothing when it is false. No operator runs: that is the
end-to-end test's job. The webhook is given a local URL where nothing listens (webhook.url):
no kube-proxy routes a Service's address here, and a test never dials another address."""
import json
import os
import sys
import unittest

from chart_support import CHART, MANIFESTS, ROOT, TESTDATA, by_kind, template

sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
from cluster import Cluster, free_port  # noqa: E402

NAMESPACE = "agentproxy-system"
CRD = "proxypolicies.agentproxy.io"
PLURALS = {"Deployment": "deployments.apps",
           "MutatingWebhookConfiguration": "mutatingwebhookconfigurations"}
POD = """apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s}
spec: {containers: [{name: agent, image: registry.example/agent:1.0}]}
"""


class InstallCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Cluster()
        cls.webhook_url = f"https://127.0.0.1:{free_port()}/mutate-v1-pod"

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def helm(self, *args, **kwargs):
        return self.server.helm(*args, "--namespace", NAMESPACE, **kwargs)

    def install(self, *values, create_namespace=True):
        sets = [arg for value in (f"webhook.url={self.webhook_url}", *values)
                for arg in ("--set", value)]
        return self.helm("install", "agentproxy", CHART,
                         *(["--create-namespace"] if create_namespace else []), *sets)

    def template(self, *values):
        return template(f"webhook.url={self.webhook_url}", *values)

    def kubectl(self, *args, **kwargs):
        return self.server.kubectl(*args, **kwargs)

    def get(self, kind, name, namespace=NAMESPACE):
        args = ["get", PLURALS[kind], name, "-o", "json"]
        if namespace:
            args += ["-n", namespace]
        result = self.kubectl(*args, check=False)
        return json.loads(result.stdout) if result.returncode == 0 else None

    def live(self, objects):
        """{(kind, name)} of those objects that exist in the server (one kubectl call)."""
        text = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
        out = self.kubectl("get", "-f", "-", "-o", "json", "--ignore-not-found",
                           input_text=text).stdout
        found = json.loads(out) if out.strip() else {"kind": "List", "items": []}
        items = found["items"] if found["kind"] == "List" else [found]
        return {(o["kind"], o["metadata"]["name"]) for o in items}

    def assert_objects(self, objects, present=True):
        expected = set(by_kind(objects))
        found = self.live(objects)
        if present:
            self.assertEqual(sorted(expected - found), [], "missing")
        else:
            self.assertEqual(sorted(found), [], "left behind")

    def webhook_calls(self):
        """Calls of the pod webhook, from the API server's apiserver_admission_webhook_*
        metrics: those that failed open (nothing answers, failurePolicy Ignore) or at all."""
        metrics = self.server.kubectl("get", "--raw", "/metrics").stdout
        total = 0
        for line in metrics.splitlines():
            if line.startswith("apiserver_admission_webhook_request_total{") and \
                    'name="pods.agentproxy.io"' in line:
                total += int(float(line.rsplit(" ", 1)[1]))
        return total

    def create_pod(self, name, namespace, check=True):
        return self.kubectl("apply", "-f", "-", input_text=POD % (name, namespace), check=check)


class HelmInstallTest(InstallCase):
    def test_install_upgrade_uninstall_keeps_the_crd(self):
        self.kubectl("create", "namespace", NAMESPACE)
        installed = self.install(create_namespace=False)
        self.assertIn("STATUS: deployed", installed.stdout)
        # NOTES.txt tells how to read a policy's status.
        for text in ("kubectl get proxypolicies", "kubectl describe proxypolicy NAME",
                     "docs/troubleshooting.md"):
            self.assertIn(text, installed.stdout)
        objects = self.template()
        self.assert_objects(objects)
        deployment = self.get("Deployment", "agentproxy")
        self.assertEqual(deployment["spec"]["replicas"], 2)

        # The CRD from the chart serves ProxyPolicies.
        out = self.kubectl("apply", "-f", os.path.join(ROOT, "examples")).stdout
        self.assertIn("proxypolicy.agentproxy.io/plain-tunnel created", out)

        # The webhook is called for pods outside the excluded namespaces; with
        # failurePolicy Ignore and no operator answering, pods are still created.
        self.server.create_namespace("apps")
        before = self.webhook_calls()
        self.create_pod("agent", "apps")
        self.assertEqual(self.webhook_calls(), before + 1)
        for namespace in (NAMESPACE, "kube-system", "kube-public"):
            self.server.wait_default_service_account(namespace)
            self.create_pod("agent", namespace)
        self.assertEqual(self.webhook_calls(), before + 1)

        # What the operator does at start: write the caBundle.
        self.kubectl("patch", "mutatingwebhookconfiguration", "agentproxy", "--type=json", "-p",
                     '[{"op": "add", "path": "/webhooks/0/clientConfig/caBundle",'
                     ' "value": "Q0EgYnVuZGxl"}]')

        upgraded = self.helm("upgrade", "agentproxy", CHART, "--reuse-values", "--set", "replicas=3",
                             "--set", "webhook.failurePolicy=Fail")
        self.assertIn('Release "agentproxy" has been upgraded', upgraded.stdout)
        deployment = self.get("Deployment", "agentproxy")
        self.assertEqual(deployment["spec"]["replicas"], 3)
        self.assertEqual(deployment["metadata"]["generation"], 2)
        [hook] = self.get("MutatingWebhookConfiguration", "agentproxy", None)["webhooks"]
        self.assertEqual(hook["failurePolicy"], "Fail")
        self.assertEqual(hook["clientConfig"]["caBundle"], "Q0EgYnVuZGxl",
                         "helm upgrade must leave the operator's caBundle alone")
        self.assertEqual(hook["clientConfig"]["url"], self.webhook_url)
        # With Fail, a pod is refused while no operator answers.
        refused = self.create_pod("agent-2", "apps", check=False)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn('failed calling webhook "pods.agentproxy.io"', refused.stderr)

        uninstalled = self.helm("uninstall", "agentproxy")
        self.assertIn('release "agentproxy" uninstalled', uninstalled.stdout)
        self.assertIn("kept due to the resource policy", uninstalled.stdout)
        crd = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
        self.assert_objects([o for o in objects if o not in crd], present=False)
        self.assert_objects(crd)
        self.assertIn("plain-tunnel", self.kubectl("get", "proxypolicies").stdout)
        self.assertEqual(json.loads(self.kubectl(
            "get", "secrets", "-A", "-l", "owner=helm", "-o", "json").stdout)["items"], [])

        # Installing again under the same name and namespace takes the kept CRD back.
        self.install()
        self.assert_objects(objects)
        self.helm("uninstall", "agentproxy")
        self.kubectl("delete", "crd", CRD)
        self.kubectl("delete", "namespace", "apps")

    def test_uninstall_without_keep_leaves_nothing(self):
        self.install("crds.keep=false")
        objects = self.template("crds.keep=false")
        self.assert_objects(objects)
        self.kubectl("apply", "-f", os.path.join(ROOT, "examples", "plain-tunnel.yaml"))
        uninstalled = self.helm("uninstall", "agentproxy")
        self.assertNotIn("kept due to the resource policy", uninstalled.stdout)
        # A CRD goes once the API server has deleted its custom resources (its
        # customresourcecleanup finalizer): a moment later, not at once.
        self.kubectl("wait", "--for=delete", f"crd/{CRD}", "--timeout=60s")
        self.assert_objects(objects, present=False)
        self.assertNotEqual(self.kubectl("get", "proxypolicies", check=False).returncode, 0)

    def test_install_with_cert_manager_and_service_monitor(self):
        self.kubectl("apply", "-f", os.path.join(TESTDATA, "third-party-crds.yaml"))
        values = ("certManager.enabled=true", "serviceMonitor.enabled=true")
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                     "crd/certificates.cert-manager.io", "crd/issuers.cert-manager.io",
                     "crd/servicemonitors.monitoring.coreos.com")
        self.install(*values)
        objects = self.template(*values)
        self.assertLessEqual({"Issuer", "Certificate", "ServiceMonitor"},
                             {o["kind"] for o in objects})
        self.assert_objects(objects)
        config = self.get("MutatingWebhookConfiguration", "agentproxy", None)
        self.assertEqual(config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
                         f"{NAMESPACE}/agentproxy")
        self.helm("uninstall", "agentproxy")
        self.assert_objects([o for o in objects if o["kind"] != "CustomResourceDefinition"],
                            present=False)
        self.kubectl("delete", "crd", CRD)


class PlainManifestsInstallTest(InstallCase):
    def test_apply_and_delete(self):
        out = self.kubectl("apply", "-f", MANIFESTS).stdout
        self.assertIn(f"namespace/{NAMESPACE} created", out)
        self.assertIn(f"customresourcedefinition.apiextensions.k8s.io/{CRD} created", out)
        self.assertIn("deployment.apps/agentproxy created", out)
        self.assert_objects(template())
        self.kubectl("apply", "-f", os.path.join(ROOT, "examples"))
        self.assertIn("plain-tunnel", self.kubectl("get", "proxypolicies").stdout)
        # Applying again changes nothing. (kubectl always sends a PodDisruptionBudget's
        # selector, whose patch strategy is "replace", so it says "configured" for it.)
        again = self.kubectl("apply", "-f", MANIFESTS).stdout.splitlines()
        changed = [line for line in again if not line.endswith(" unchanged")]
        self.assertEqual(changed, ["poddisruptionbudget.policy/agentproxy configured"])


if __name__ == "__main__":
    unittest.main()
