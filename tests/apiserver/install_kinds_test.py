"""The kinds an operator's install brings besides Deployments, through the real kubectl:
PodDisruptionBudgets and RBAC objects (stored and listed with the real table columns, never
enforced), and the strategic merge of a MutatingWebhookConfiguration's webhooks by name, which
keeps a caBundle that someone else wrote when `kubectl apply` or `helm upgrade` changes the
webhook."""
import json

from harness import ServerTestCase

INSTALL = """apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: op, namespace: default}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: op}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: op}
rules: [{apiGroups: [""], resources: [pods], verbs: [get, list, watch]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: op}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: op}
subjects: [{kind: ServiceAccount, name: op, namespace: default}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: op, namespace: default}
rules: [{apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get, update]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: op, namespace: default}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: op}
subjects: [{kind: ServiceAccount, name: op, namespace: default}]
"""

WEBHOOK = """apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: op}
webhooks:
  - name: pods.op.example
    admissionReviewVersions: [v1]
    sideEffects: None
    failurePolicy: %s
    clientConfig: {service: {name: op, namespace: default, path: /mutate}}
    rules: [{apiGroups: [""], apiVersions: [v1], resources: [pods], operations: [CREATE]}]
"""


class InstallKindsTest(ServerTestCase):
    def test_pdb_and_rbac_objects(self):
        out = self.server.kubectl("apply", "-f", "-", input_text=INSTALL).stdout
        for created in ("poddisruptionbudget.policy/op",
                        "clusterrole.rbac.authorization.k8s.io/op",
                        "clusterrolebinding.rbac.authorization.k8s.io/op",
                        "role.rbac.authorization.k8s.io/op",
                        "rolebinding.rbac.authorization.k8s.io/op"):
            self.assertIn(f"{created} created", out)
        pdb = self.server.kubectl("get", "pdb", "op").stdout.splitlines()
        self.assertEqual(pdb[0].split(), ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE",
                                          "ALLOWED", "DISRUPTIONS", "AGE"])
        self.assertEqual(pdb[1].split()[:4], ["op", "1", "N/A", "0"])
        binding = self.server.kubectl("get", "clusterrolebinding", "op").stdout
        self.assertIn("ClusterRole/op", binding)
        rules = json.loads(self.server.kubectl("get", "role", "op", "-o", "json").stdout)["rules"]
        self.assertEqual(rules[0]["resources"], ["leases"])
        self.server.kubectl("delete", "-f", "-", input_text=INSTALL)
        self.assertIn("NotFound", self.server.kubectl("get", "clusterrole", "op",
                                                      check=False).stderr)

    def test_webhook_patch_merges_by_name(self):
        self.server.kubectl("apply", "-f", "-", input_text=WEBHOOK % "Ignore")
        self.server.kubectl("patch", "mutatingwebhookconfiguration", "op", "--type=json", "-p",
                            '[{"op": "add", "path": "/webhooks/0/clientConfig/caBundle",'
                            ' "value": "Q0E="}]')
        self.server.kubectl("apply", "-f", "-", input_text=WEBHOOK % "Fail")
        [hook] = json.loads(self.server.kubectl(
            "get", "mutatingwebhookconfiguration", "op", "-o", "json").stdout)["webhooks"]
        self.assertEqual(hook["failurePolicy"], "Fail")
        self.assertEqual(hook["clientConfig"]["caBundle"], "Q0E=")
        self.assertEqual(hook["rules"][0]["resources"], ["pods"])


if __name__ == "__main__":
    import unittest
    unittest.main()
