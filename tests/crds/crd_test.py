"""The ProxyPolicy CRD as a user meets it: the real kubectl against a real kube-apiserver
(scripts/cluster.sh), which compiles the CRD's CEL rules under its own cost budgets.

`kubectl apply` of the CRD and the examples, the printer columns of `kubectl get`, the field
docs of `kubectl explain`, and invalid policies refused with the server's own messages.
"""
import os
import sys
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

from cluster import Cluster  # noqa: E402

CRD = os.path.join(ROOT, "crds", "agentproxy.io_proxypolicies.yaml")
EXAMPLES = os.path.join(ROOT, "examples")

VALID = """apiVersion: agentproxy.io/v1alpha1
kind: ProxyPolicy
metadata: {name: %(name)s}
spec:
  proxy: {httpsProxy: "%(proxy)s"}
  targets: [{address: "%(address)s"}]
  probe: {interval: "%(interval)s"}
"""


def policy(name="p", proxy="http://proxy.corp:3128", address="api.example.com:443",
           interval="5m"):
    return VALID % dict(name=name, proxy=proxy, address=address, interval=interval)


class ProxyPolicyCrdTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Cluster()
        cls.server.kubectl("apply", "-f", CRD)
        # The CRD is served once it is Established (a real server takes a moment).
        cls.server.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                           "crd/proxypolicies.agentproxy.io")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def test_examples_apply_and_get_shows_the_columns(self):
        out = self.server.kubectl("apply", "-f", EXAMPLES).stdout
        self.assertIn("proxypolicy.agentproxy.io/plain-tunnel created", out)
        table = self.server.kubectl("get", "proxypolicies").stdout.splitlines()
        self.assertEqual(table[0].split(), ["NAME", "CLASS", "PROXY", "TARGETS", "INJECTED", "AGE"])
        rows = {line.split()[0]: line for line in table[1:]}
        self.assertLessEqual({"plain-tunnel", "ssl-bump", "with-credentials"}, set(rows))
        self.assertIn("http://bump.corp.example:3128", rows["ssl-bump"])
        self.assertIn("api.mgmt.example.com:443", rows["ssl-bump"])
        # The short name and the category find them too.
        self.assertIn("plain-tunnel", self.server.kubectl("get", "ppol").stdout)
        self.assertIn("plain-tunnel", self.server.kubectl("get", "agentproxy").stdout)

    def test_defaults_are_filled_in(self):
        self.server.kubectl("apply", "-f", "-", input_text=policy(name="defaults"))
        out = self.server.kubectl("get", "ppol", "defaults", "-o",
                                  "jsonpath={.spec.probe.timeout}").stdout
        self.assertEqual(out, "10s")

    def test_explain_reads_well(self):
        out = self.server.kubectl("explain", "proxypolicy.spec.proxy").stdout
        self.assertIn("httpsProxy\t<string> -required-", out)
        self.assertIn("credentialsSecretRef", out)
        self.assertIn("URL of the proxy for HTTPS and gRPC traffic", out)

    def refused(self, text):
        result = self.server.kubectl("apply", "-f", "-", input_text=text, check=False)
        self.assertNotEqual(result.returncode, 0, result.stdout)
        return result.stderr

    def test_invalid_policies_are_refused_with_the_schema_message(self):
        err = self.refused(policy(name="bad-scheme", proxy="socks5://proxy:1080"))
        self.assertIn("spec.proxy.httpsProxy", err)
        self.assertIn("must be an http:// or https:// URL with a host", err)

        err = self.refused(policy(name="creds-in-url", proxy="http://u:secret@proxy:3128"))
        self.assertIn("no credentials", err)

        err = self.refused(policy(name="no-port", address="api.example.com"))
        self.assertIn("spec.targets[0].address", err)
        self.assertIn("address must be host:port", err)

        err = self.refused(policy(name="fast", interval="1s"))
        self.assertIn("interval must be a duration from 30s to 24h", err)

        err = self.refused("apiVersion: agentproxy.io/v1alpha1\nkind: ProxyPolicy\n"
                           "metadata: {name: no-targets}\n"
                           "spec: {proxy: {httpsProxy: 'http://p:3128'}, targets: []}\n")
        self.assertIn("spec.targets", err)
        self.assertIn("at least 1 items", err)

        err = self.refused("apiVersion: agentproxy.io/v1alpha1\nkind: ProxyPolicy\n"
                           "metadata: {name: two-sources}\n"
                           "spec:\n  proxy: {httpsProxy: 'http://p:3128'}\n"
                           "  targets: [{address: 'a:443'}]\n"
                           "  trust: {caBundles: [{configMapRef: {namespace: ns, name: c, key: k},"
                           " secretRef: {namespace: ns, name: s, key: k}}]}\n")
        self.assertIn("set exactly one of configMapRef and secretRef", err)


if __name__ == "__main__":
    unittest.main()
