"""The kubelet's part of injection.py, which every cell of the matrix relies on: $(VAR)
expansion as Kubernetes does it, secretKeyRef and ConfigMap volumes resolved, the mount path
pointed at a directory of the test's."""

import tempfile
import unittest
from pathlib import Path

import injection


class ExpandTest(unittest.TestCase):
    def test_defined_references_are_replaced(self):
        self.assertEqual(injection.expand("http://$(U):$(P)@h:1", {"U": "a", "P": "b%40c"}),
                         "http://a:b%40c@h:1")

    def test_undefined_references_and_bare_dollars_stay(self):
        self.assertEqual(injection.expand("$(NOPE) $X $(", {}), "$(NOPE) $X $(")

    def test_double_dollar_escapes(self):
        self.assertEqual(injection.expand("$$(U)", {"U": "a"}), "$(U)")


class ContainerStartTest(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp())
        pod = injection.agent_pod()
        c = pod["spec"]["containers"][0]
        c["env"] = [
            {"name": "LATER", "value": "$(USER)"},  # refers forward: stays as written
            {"name": "USER", "valueFrom": {"secretKeyRef": {"name": "s", "key": "username"}}},
            {"name": "URL", "value": "http://$(USER)@proxy:3128"},
            {"name": "CA", "value": "/etc/agentproxy/ca/ca-bundle.crt"},
        ]
        c["volumeMounts"] = [{"name": "ca", "mountPath": "/etc/agentproxy/ca"}]
        pod["spec"]["volumes"] = [{"name": "ca", "configMap": {
            "name": "cm", "items": [{"key": "ca-bundle.crt", "path": "ca-bundle.crt"}]}}]
        self.stored = injection.StoredPod(pod, {"s": {"username": b"agent"}},
                                          {"cm": {"ca-bundle.crt": b"PEM", "other": b"x"}})

    def test_env_is_resolved_in_order_over_the_image_env(self):
        start = injection.container_start(self.stored, self.dir, {"PATH": "/bin", "USER": "img"})
        self.assertEqual(start.env["USER"], "agent")
        self.assertEqual(start.env["URL"], "http://agent@proxy:3128")
        self.assertEqual(start.env["LATER"], "$(USER)")
        self.assertEqual(start.env["PATH"], "/bin")

    def test_configmap_items_land_at_the_mount_dir_the_env_points_at(self):
        start = injection.container_start(self.stored, self.dir, {})
        self.assertEqual(Path(start.env["CA"]).read_bytes(), b"PEM")
        self.assertEqual(Path(start.env["CA"]).parent, start.mount_dir)
        self.assertFalse((start.mount_dir / "other").exists())  # not among the items


class NoProxyFormsTest(unittest.TestCase):
    def test_entries_are_written_as_every_runtime_reads_them(self):
        self.assertEqual([injection.normalize_no_proxy_entry(e)
                          for e in [" *.Corp.Example ", "[::1]", "10.0.0.0/8", "Host"]],
                         [".corp.example", "::1", "10.0.0.0/8", "host"])

    def test_java_non_proxy_hosts_drops_cidr_and_widens_dot_suffixes(self):
        self.assertEqual(injection.java_non_proxy_hosts(["localhost", ".svc", "10.96.0.0/12",
                                                         "fd00::/8", "mgmt.test"]),
                         "localhost|*.svc|mgmt.test")


if __name__ == "__main__":
    unittest.main()
