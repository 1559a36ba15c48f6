"""The real kubectl (v1.32) against the test API server: CRDs, printer columns,
describe, patches, deletion, watch, server-side validation, built-in workloads."""
import json
import os
import subprocess
import unittest

from harness import TESTDATA, ServerTestCase, wait_for


class KubectlTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server.kubectl("apply", "-f", os.path.join(TESTDATA, "proxypolicy-crd.yaml"))

    def create_policy(self, name, proxy="http://proxy.corp.example:3128", check=True):
        manifest = {"apiVersion": "agentproxy.io/v1alpha1", "kind": "ProxyPolicy",
                    "metadata": {"name": name}, "spec": {"proxy": {"httpsProxy": proxy}}}
        return self.server.kubectl("apply", "-f", "-", input_text=json.dumps(manifest),
                                   check=check)

    def jsonpath(self, *args):
        return self.server.kubectl("get", *args[:-1], "-o", f"jsonpath={args[-1]}").stdout

    def test_apply_custom_resource_then_get_shows_printer_columns(self):
        result = self.apply_file("proxypolicy.yaml")
        self.assertIn("proxypolicy.agentproxy.io/corp-proxy created", result.stdout)
        self.server.kubectl("patch", "proxypolicy", "corp-proxy", "--subresource=status",
                            "--type=merge", "-p",
                            '{"status":{"classification":"Warn","injectedPods":3}}')
        lines = self.server.kubectl("get", "proxypolicies").stdout.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "CLASS", "PROXY", "INJECTED", "AGE"])
        row = next(line for line in lines if line.startswith("corp-proxy"))
        self.assertEqual(row.split()[:4],
                         ["corp-proxy", "Warn", "http://proxy.corp.example:3128", "3"])
        self.assertIn("unchanged", self.apply_file("proxypolicy.yaml").stdout)

    def test_short_name_and_crd_listing(self):
        self.create_policy("short-name")
        self.assertIn("short-name", self.server.kubectl("get", "pp").stdout)
        crds = self.server.kubectl("get", "crds").stdout
        self.assertIn("proxypolicies.agentproxy.io", crds)
        self.assertIn("CREATED AT", crds)

    def test_describe_shows_spec_status_and_events(self):
        self.create_policy("described")
        uid = self.jsonpath("proxypolicy", "described", "{.metadata.uid}")
        event = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"name": "described.1", "namespace": "default"},
                 "involvedObject": {"apiVersion": "agentproxy.io/v1alpha1",
                                    "kind": "ProxyPolicy", "name": "described", "uid": uid},
                 "reason": "Classified", "message": "proxy tunnels gRPC end to end",
                 "type": "Normal", "source": {"component": "agentproxy"}}
        self.server.kubectl("create", "-f", "-", input_text=json.dumps(event))
        text = self.server.kubectl("describe", "proxypolicy", "described").stdout
        self.assertIn("Https Proxy:  http://proxy.corp.example:3128", text)
        self.assertRegex(text, r"Normal\s+Classified\s+.*agentproxy\s+proxy tunnels gRPC")

    def test_merge_and_json_patch_bump_generation(self):
        self.create_policy("patched")
        self.server.kubectl("patch", "proxypolicy", "patched", "--type=merge", "-p",
                            '{"spec":{"proxy":{"noProxy":[".corp.example"]}}}')
        self.server.kubectl("patch", "proxypolicy", "patched", "--type=json", "-p",
                            '[{"op":"replace","path":"/spec/proxy/httpsProxy",'
                            '"value":"https://other.example:443"}]')
        self.assertEqual(self.jsonpath("proxypolicy", "patched",
                                       "{.spec.proxy.httpsProxy} {.metadata.generation}"),
                         "https://other.example:443 3")
        self.server.kubectl("label", "proxypolicy", "patched", "tier=gold")
        self.assertEqual(self.jsonpath("proxypolicy", "patched", "{.metadata.generation}"), "3")
        self.assertIn("patched", self.server.kubectl("get", "pp", "-l", "tier=gold").stdout)
        self.assertNotIn("patched", self.server.kubectl("get", "pp", "-l", "tier!=gold").stdout)

    def test_delete_then_get_is_not_found(self):
        self.create_policy("doomed")
        self.assertIn('proxypolicy.agentproxy.io "doomed" deleted',
                      self.server.kubectl("delete", "proxypolicy", "doomed").stdout)
        result = self.server.kubectl("get", "proxypolicy", "doomed", check=False)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn('Error from server (NotFound): proxypolicies.agentproxy.io "doomed" not '
                      "found", result.stderr)

    def test_apply_invalid_resource_is_refused_with_schema_message(self):
        result = self.server.kubectl("apply", "-f", os.path.join(TESTDATA,
                                                                 "proxypolicy-invalid.yaml"),
                                     check=False)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn('The ProxyPolicy "broken" is invalid: spec.proxy.httpsProxy: Required value',
                      result.stderr)
        result = self.create_policy("bad-scheme", proxy="ftp://proxy.example", check=False)
        self.assertIn('The ProxyPolicy "bad-scheme" is invalid: spec.proxy.httpsProxy: Invalid '
                      'value: "string": httpsProxy must be an http(s) URL with a host',
                      result.stderr if result.returncode else "accepted")

    def test_apply_unknown_field_is_refused_by_strict_field_validation(self):
        manifest = {"apiVersion": "agentproxy.io/v1alpha1", "kind": "ProxyPolicy",
                    "metadata": {"name": "unknown-field"},
                    "spec": {"proxy": {"httpsProxy": "http://p.example:1"}, "bogus": 1}}
        result = self.server.kubectl("apply", "-f", "-", input_text=json.dumps(manifest),
                                     check=False)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn('ProxyPolicy in version "v1alpha1" cannot be handled as a ProxyPolicy: '
                      'strict decoding error: unknown field "spec.bogus"', result.stderr)

    def test_get_watch_sees_a_change(self):
        self.create_policy("watched")
        watcher = subprocess.Popen(["kubectl", "get", "proxypolicy", "watched", "--watch"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=self.server.env)
        try:
            self.assertIn("watched", watcher.stdout.readline() + watcher.stdout.readline())
            self.server.kubectl("patch", "proxypolicy", "watched", "--subresource=status",
                                "--type=merge", "-p", '{"status":{"classification":"Unsupported"}}')
            line = watcher.stdout.readline()
            self.assertIn("Unsupported", line)
        finally:
            watcher.terminate()
            watcher.communicate(timeout=5)

    def test_deployment_strategic_patch_and_rollout_restart(self):
        deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"name": "agent", "namespace": "default"},
                      "spec": {"selector": {"matchLabels": {"app": "agent"}},
                               "template": {"metadata": {"labels": {"app": "agent"}},
                                            "spec": {"containers": [
                                                {"name": "agent", "image": "agent:1",
                                                 "env": [{"name": "A", "value": "1"}]},
                                                {"name": "sidecar", "image": "side:1"}]}}}}
        self.server.kubectl("apply", "-f", "-", input_text=json.dumps(deployment))
        self.server.kubectl("patch", "deployment", "agent", "-p", json.dumps(
            {"spec": {"template": {"spec": {"containers": [
                {"name": "agent", "env": [{"name": "HTTPS_PROXY", "value": "http://p:3128"}]}]}}}}))
        containers = json.loads(self.jsonpath("deployment", "agent",
                                              "{.spec.template.spec.containers}"))
        self.assertEqual([c["name"] for c in containers], ["agent", "sidecar"])
        self.assertEqual([e["name"] for e in containers[0]["env"]], ["A", "HTTPS_PROXY"])
        self.server.kubectl("rollout", "restart", "deployment", "agent")
        annotations = self.jsonpath("deployment", "agent",
                                    "{.spec.template.metadata.annotations}")
        self.assertIn("kubectl.kubernetes.io/restartedAt", annotations)
        self.assertEqual(self.jsonpath("deployment", "agent", "{.metadata.generation}"), "3")

    def test_namespaces_configmaps_and_secrets(self):
        self.server.kubectl("create", "namespace", "team-a")
        self.server.kubectl("label", "namespace", "team-a", "agentproxy.io/inject=enabled")
        self.assertIn("team-a", self.server.kubectl(
            "get", "ns", "-l", "agentproxy.io/inject in (enabled)").stdout)
        self.server.kubectl("-n", "team-a", "create", "configmap", "corp-ca",
                            "--from-literal=ca.crt=PEM")
        self.server.kubectl("-n", "team-a", "create", "secret", "generic", "proxy-auth",
                            "--from-literal=username=u", "--from-literal=password=p")
        listing = self.server.kubectl("-n", "team-a", "get", "configmaps,secrets").stdout
        self.assertIn("configmap/corp-ca", listing)
        self.assertRegex(listing, r"secret/proxy-auth\s+Opaque\s+2")
        self.server.kubectl("delete", "namespace", "team-a")
        wait_for(lambda: self.server.kubectl("get", "ns", "team-a", check=False).returncode)


if __name__ == "__main__":
    unittest.main()
