"""The real helm 3 against the test API server: install, upgrade, uninstall of the
chart in testdata/chart (ConfigMap, Service, Deployment and a ProxyPolicy)."""
import json
import os
import shutil
import unittest

from harness import TESTDATA, ServerTestCase

CHART = os.path.join(TESTDATA, "chart")


class HelmTest(ServerTestCase):
    def setUp(self):
        if shutil.which("helm") is None:
            self.fail("helm is not installed: run scripts/lib/install_helm.sh")

    def helm(self, *args, **kwargs):
        return self.server.run("helm", *args, **kwargs)

    def get(self, *args):
        return json.loads(self.server.kubectl("get", *args, "-o", "json").stdout)

    def test_install_upgrade_uninstall(self):
        self.server.kubectl("apply", "-f", os.path.join(TESTDATA, "proxypolicy-crd.yaml"))
        installed = self.helm("install", "demo", CHART,
                              "--set", "proxyPolicy.httpsProxy=http://p.example:3128")
        self.assertIn("STATUS: deployed", installed.stdout)
        self.assertEqual(self.get("configmap", "demo-config")["data"], {"message": "hello"})
        release = self.get("secrets", "-l", "owner=helm,name=demo")["items"]
        self.assertEqual([s["type"] for s in release], ["helm.sh/release.v1"])

        upgraded = self.helm("upgrade", "demo", CHART, "--set", "message=bye",
                             "--set", "replicas=2",
                             "--set", "proxyPolicy.httpsProxy=http://q.example:3128")
        self.assertIn('Release "demo" has been upgraded', upgraded.stdout)
        self.assertEqual(self.get("configmap", "demo-config")["data"], {"message": "bye"})
        deployment = self.get("deployment", "demo-app")
        self.assertEqual(deployment["spec"]["replicas"], 2)
        self.assertEqual(deployment["metadata"]["generation"], 2)
        self.assertEqual(self.get("proxypolicy", "demo-policy")["spec"]["proxy"]["httpsProxy"],
                         "http://q.example:3128")
        history = self.helm("history", "demo", "-o", "json").stdout
        self.assertEqual([r["status"] for r in json.loads(history)], ["superseded", "deployed"])

        self.assertIn('release "demo" uninstalled', self.helm("uninstall", "demo").stdout)
        for kind, name in (("configmap", "demo-config"), ("service", "demo-svc"),
                           ("deployment", "demo-app"), ("proxypolicy", "demo-policy")):
            result = self.server.kubectl("get", kind, name, check=False)
            self.assertIn("NotFound", result.stderr)
        self.assertEqual(self.get("secrets", "-l", "owner=helm")["items"], [])


if __name__ == "__main__":
    unittest.main()
