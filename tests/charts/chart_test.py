"""The Helm chart as `helm lint`, `helm template` and `helm package` see it: the objects a
user gets with the default values and with cert-manager and a ServiceMonitor, least-privilege
RBAC, values refused by the schema, the CRD kept identical to crds/, and the plain manifests
kept in sync with the chart. No cluster: the install itself is in install_test.py."""
import os
import re
import shutil
import tarfile
import tempfile
import unittest

from chart_support import (CHART, CRD_COPY, CRD_SOURCE, MANIFESTS, RENDER_SCRIPT, ROOT, by_kind,
                           chart_metadata, cmake_project_version, load_yaml, load_yaml_file, run,
                           template)

NAMESPACE = "agentproxy-system"
FIX = "run scripts/render-manifests.sh and commit the result"

# What the operator reads and writes (its contract), and nothing more.
# What the e2e run's audit log showed the operator using (tests/e2e/rbac_audit.py holds the
# chart to it); here the rendered chart is held to it for every install.
CLUSTER_RULES = {
    ("agentproxy.io", "proxypolicies"): {"list", "watch"},
    ("agentproxy.io", "proxypolicies/status"): {"patch"},
    # Copies: created, patched, deleted; listed and watched as metadata only. Never get:
    # Secrets are read only in the release's namespace and the trust source namespaces.
    ("", "secrets"): {"list", "watch", "create", "patch", "delete"},
    ("", "configmaps"): {"list", "watch", "create", "patch", "delete"},
    ("", "namespaces"): {"get", "list", "watch"},
    ("", "nodes"): {"list", "watch"},
    ("networking.k8s.io", "servicecidrs"): {"list", "watch"},
    ("", "pods"): {"list", "watch"},
    ("", "events"): {"create", "patch"},
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"): {"get", "patch"},
    ("apps", "deployments"): {"get", "patch"},
    ("apps", "statefulsets"): {"get", "patch"},
    ("apps", "daemonsets"): {"get", "patch"},
    ("apps", "replicasets"): {"get"},
}
NAMESPACED_RULES = {("coordination.k8s.io", "leases"): {"get", "create", "update"},
                    ("", "configmaps"): {"get"},
                    ("", "secrets"): {"get", "update"}}


def granted(rules):
    """{(apiGroup, resource): verbs} over a role's rules."""
    result = {}
    for rule in rules:
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                result.setdefault((group, resource), set()).update(rule.get("verbs", []))
    return result


def flag_value(args, name):
    values = [a.split("=", 1)[1] for a in args if a.startswith(name + "=")]
    return values[0] if values else None


class DefaultValuesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.objects = template()
        cls.kinds = by_kind(cls.objects)
        cls.deployment = cls.kinds[("Deployment", "agentproxy")]
        cls.pod = cls.deployment["spec"]["template"]
        cls.container = cls.pod["spec"]["containers"][0]
        cls.args = cls.container["args"]

    def test_lint_is_clean(self):
        result = run("helm", "lint", "--strict", CHART)
        self.assertIn("1 chart(s) linted, 0 chart(s) failed", result.stdout)
        self.assertNotRegex(result.stdout + result.stderr, r"\[(WARNING|ERROR)\]")

    def test_chart_version_follows_the_project(self):
        chart = chart_metadata()
        self.assertEqual(chart["apiVersion"], "v2")
        self.assertEqual(chart["appVersion"], cmake_project_version(),
                         "Chart.yaml appVersion must be CMakeLists.txt's project VERSION")
        self.assertEqual(self.container["image"], f"agentproxy:{cmake_project_version()}")

    def test_the_objects(self):
        self.assertEqual(sorted(self.kinds), sorted([
            ("CustomResourceDefinition", "proxypolicies.agentproxy.io"),
            ("ServiceAccount", "agentproxy"),
            ("ClusterRole", "agentproxy"), ("ClusterRoleBinding", "agentproxy"),
            ("Role", "agentproxy"), ("RoleBinding", "agentproxy"),
            ("Deployment", "agentproxy"), ("PodDisruptionBudget", "agentproxy"),
            ("Service", "agentproxy-webhook"), ("Service", "agentproxy-metrics"),
            ("MutatingWebhookConfiguration", "agentproxy")]))
        for obj in self.objects:
            labels = obj["metadata"].get("labels", {})
            for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance",
                        "app.kubernetes.io/version", "app.kubernetes.io/managed-by",
                        "helm.sh/chart"):
                self.assertIn(key, labels, f"{obj['kind']} {obj['metadata']['name']}")
            if obj["kind"] not in ("CustomResourceDefinition", "ClusterRole",
                                   "ClusterRoleBinding", "MutatingWebhookConfiguration"):
                self.assertEqual(obj["metadata"].get("namespace"), NAMESPACE, obj["kind"])

    def test_crd_is_the_one_in_crds_and_kept_on_uninstall(self):
        with open(CRD_SOURCE, encoding="utf-8") as a, open(CRD_COPY, encoding="utf-8") as b:
            self.assertTrue(a.read() == b.read(),
                            f"charts/agentproxy/files/crds/ differs from crds/: {FIX}")
        source = load_yaml_file(CRD_SOURCE)[0]
        crd = self.kinds[("CustomResourceDefinition", "proxypolicies.agentproxy.io")]
        self.assertEqual(crd["spec"], source["spec"])
        self.assertEqual(crd["metadata"]["annotations"], {"helm.sh/resource-policy": "keep"})

        not_kept = by_kind(template("crds.keep=false"))
        crd = not_kept[("CustomResourceDefinition", "proxypolicies.agentproxy.io")]
        self.assertNotIn("annotations", crd["metadata"])
        without = template("crds.install=false")
        self.assertNotIn("CustomResourceDefinition", [o["kind"] for o in without])

    def test_crd_schema_is_structural(self):
        """A real API server refuses a CRD whose schema has a property without a type."""
        untyped = []

        def walk(node, path):
            if not isinstance(node, dict):
                untyped.append(path)
                return
            if "type" not in node and not node.get("x-kubernetes-int-or-string") and \
                    not node.get("x-kubernetes-preserve-unknown-fields"):
                untyped.append(path)
            for name, child in (node.get("properties") or {}).items():
                walk(child, f"{path}.{name}")
            if isinstance(node.get("items"), dict):
                walk(node["items"], path + "[]")
            if isinstance(node.get("additionalProperties"), dict):
                walk(node["additionalProperties"], path + ".*")

        for version in load_yaml_file(CRD_SOURCE)[0]["spec"]["versions"]:
            walk(version["schema"]["openAPIV3Schema"], version["name"])
        # kubectl's YAML reading drops null values, which helm's keeps: a property whose
        # schema is null shows as "name: null" in the rendered CRD.
        rendered = run("helm", "template", "agentproxy", CHART, "--show-only",
                       "templates/crd.yaml").stdout
        untyped += [line.strip() for line in rendered.splitlines() if line.endswith(": null")]
        self.assertEqual(untyped, [], "crds/: properties without a type (in a YAML flow "
                         "mapping, a comma in an unquoted description starts a new key)")

    def test_deployment_runs_two_replicas_with_leader_election(self):
        self.assertEqual(self.deployment["spec"]["replicas"], 2)
        self.assertIn("--leader-elect", self.args)
        self.assertEqual(self.deployment["spec"]["selector"]["matchLabels"],
                         {k: v for k, v in self.pod["metadata"]["labels"].items()
                          if k in ("app.kubernetes.io/name", "app.kubernetes.io/instance")})
        # The Lease's namespace and holder come from the downward API.
        env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in self.container["env"]}
        self.assertEqual(env, {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"})
        # The operator's own pods are never injected.
        self.assertEqual(self.pod["metadata"]["annotations"]["agentproxy.io/inject"], "false")
        self.assertEqual(self.pod["spec"]["serviceAccountName"], "agentproxy")

    def test_replicas_spread_over_nodes_and_survive_drains(self):
        terms = self.pod["spec"]["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"]
        self.assertEqual(len(terms), 1)
        term = terms[0]["podAffinityTerm"]
        self.assertEqual(term["topologyKey"], "kubernetes.io/hostname")
        self.assertLessEqual(term["labelSelector"]["matchLabels"].items(),
                             self.pod["metadata"]["labels"].items())
        pdb = self.kinds[("PodDisruptionBudget", "agentproxy")]
        self.assertEqual(pdb["apiVersion"], "policy/v1")
        self.assertEqual(pdb["spec"]["minAvailable"], 1)
        self.assertEqual(pdb["spec"]["selector"]["matchLabels"],
                         self.deployment["spec"]["selector"]["matchLabels"])

    def test_security_context(self):
        pod = self.pod["spec"]["securityContext"]
        self.assertTrue(pod["runAsNonRoot"])
        self.assertEqual(pod["seccompProfile"], {"type": "RuntimeDefault"})
        ctx = self.container["securityContext"]
        self.assertTrue(ctx["runAsNonRoot"])
        self.assertEqual(ctx["runAsUser"], 65532)
        self.assertTrue(ctx["readOnlyRootFilesystem"])
        self.assertFalse(ctx["allowPrivilegeEscalation"])
        self.assertEqual(ctx["capabilities"], {"drop": ["ALL"]})
        self.assertEqual(ctx["seccompProfile"], {"type": "RuntimeDefault"})
        self.assertTrue(self.container["resources"]["requests"])
        self.assertIn("memory", self.container["resources"]["limits"])

    def test_probes_and_ports_match_the_flags(self):
        ports = {p["name"]: p["containerPort"] for p in self.container["ports"]}
        self.assertEqual(ports, {"webhook": 9443, "metrics": 8080, "health": 8081})
        self.assertEqual(flag_value(self.args, "--webhook-addr"), ":9443")
        self.assertEqual(flag_value(self.args, "--metrics-addr"), ":8080")
        self.assertEqual(flag_value(self.args, "--health-addr"), ":8081")
        live = self.container["livenessProbe"]["httpGet"]
        ready = self.container["readinessProbe"]["httpGet"]
        self.assertEqual((live["path"], live["port"]), ("/healthz", "health"))
        self.assertEqual((ready["path"], ready["port"]), ("/readyz", "health"))

    def test_services(self):
        webhook = self.kinds[("Service", "agentproxy-webhook")]["spec"]
        self.assertEqual([(p["port"], p["targetPort"]) for p in webhook["ports"]],
                         [(443, "webhook")])
        metrics = self.kinds[("Service", "agentproxy-metrics")]["spec"]
        self.assertEqual([(p["port"], p["targetPort"]) for p in metrics["ports"]],
                         [(8080, "metrics")])
        for spec in (webhook, metrics):
            self.assertLessEqual(spec["selector"].items(), self.pod["metadata"]["labels"].items())
        # The operator names its serving certificate after this Service.
        self.assertEqual(flag_value(self.args, "--webhook-service"), "agentproxy-webhook")

    def test_webhook_configuration(self):
        config = self.kinds[("MutatingWebhookConfiguration", "agentproxy")]
        self.assertEqual(flag_value(self.args, "--webhook-config-name"), "agentproxy")
        # The operator manages the certificate: no cert dir, no cert-manager annotation.
        self.assertIsNone(flag_value(self.args, "--webhook-cert-dir"))
        self.assertNotIn("annotations", config["metadata"])
        [hook] = config["webhooks"]
        self.assertEqual(hook["failurePolicy"], "Ignore")
        self.assertEqual(hook["timeoutSeconds"], 5)
        self.assertEqual(hook["sideEffects"], "None")
        self.assertEqual(hook["admissionReviewVersions"], ["v1"])
        self.assertEqual(hook["reinvocationPolicy"], "IfNeeded")
        self.assertEqual(hook["rules"], [{"apiGroups": [""], "apiVersions": ["v1"],
                                          "resources": ["pods"], "operations": ["CREATE"],
                                          "scope": "Namespaced"}])
        self.assertEqual(hook["clientConfig"], {"service": {
            "name": "agentproxy-webhook", "namespace": NAMESPACE, "path": "/mutate-v1-pod",
            "port": 443}})  # no caBundle: the operator writes it
        self.assertEqual(hook["namespaceSelector"], {"matchExpressions": [{
            "key": "kubernetes.io/metadata.name", "operator": "NotIn",
            "values": ["kube-system", "kube-public", NAMESPACE]}]})

    def test_webhook_excludes_the_release_namespace_and_more(self):
        objects = by_kind(template("webhook.excludeNamespaces={monitoring,cert-manager}",
                                   "webhook.failurePolicy=Fail", "webhook.timeoutSeconds=10",
                                   namespace="ops"))
        [hook] = objects[("MutatingWebhookConfiguration", "agentproxy")]["webhooks"]
        self.assertEqual(hook["namespaceSelector"]["matchExpressions"][0]["values"],
                         ["kube-system", "kube-public", "ops", "monitoring", "cert-manager"])
        self.assertEqual(hook["clientConfig"]["service"]["namespace"], "ops")
        self.assertEqual((hook["failurePolicy"], hook["timeoutSeconds"]), ("Fail", 10))

    def test_rbac_is_least_privilege_without_wildcards(self):
        roles = [o for o in self.objects if o["kind"] in ("ClusterRole", "Role")]
        for role in roles:
            for rule in role["rules"]:
                for field in ("apiGroups", "resources", "verbs", "resourceNames",
                              "nonResourceURLs"):
                    self.assertFalse(any("*" in value for value in rule.get(field, [])),
                                     f"wildcard in {role['kind']} rule {rule}")
        cluster = self.kinds[("ClusterRole", "agentproxy")]["rules"]
        self.assertEqual(granted(cluster), CLUSTER_RULES)
        # Writes to webhook configurations are limited to the chart's own.
        for rule in cluster:
            if "mutatingwebhookconfigurations" in rule["resources"] and (
                    {"patch", "update"} & set(rule["verbs"])):
                self.assertEqual(rule["resourceNames"], ["agentproxy"])
        self.assertEqual(granted(self.kinds[("Role", "agentproxy")]["rules"]), NAMESPACED_RULES)
        for kind, role_kind in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
            binding = self.kinds[(kind, "agentproxy")]
            self.assertEqual(binding["roleRef"], {"apiGroup": "rbac.authorization.k8s.io",
                                                  "kind": role_kind, "name": "agentproxy"})
            self.assertEqual(binding["subjects"], [{"kind": "ServiceAccount",
                                                    "name": "agentproxy",
                                                    "namespace": NAMESPACE}])

    def test_no_trust_source_namespace_by_default(self):
        self.assertFalse([o for o in self.objects if o["metadata"]["name"].endswith("-trust-source")])
        self.assertIsNone(flag_value(self.args, "--trust-source-namespaces"))

    def test_trust_source_namespaces_get_a_role_to_read_sources_and_nothing_more(self):
        objects = template("trustSources.namespaces={corp-trust,pki,agentproxy-system}")
        roles = [o for o in objects if o["kind"] == "Role" and
                 o["metadata"]["name"] == "agentproxy-trust-source"]
        bindings = [o for o in objects if o["kind"] == "RoleBinding" and
                    o["metadata"]["name"] == "agentproxy-trust-source"]
        # The release's namespace is one already: no second Role there.
        self.assertEqual(sorted(r["metadata"]["namespace"] for r in roles), ["corp-trust", "pki"])
        self.assertEqual(sorted(b["metadata"]["namespace"] for b in bindings),
                         ["corp-trust", "pki"])
        for role in roles:
            self.assertEqual(granted(role["rules"]), {("", "configmaps"): {"get"},
                                                      ("", "secrets"): {"get"}})
        for binding in bindings:
            self.assertEqual(binding["roleRef"]["name"], "agentproxy-trust-source")
            self.assertEqual(binding["subjects"], [{"kind": "ServiceAccount",
                                                    "name": "agentproxy",
                                                    "namespace": NAMESPACE}])
        deployment = by_kind(objects)[("Deployment", "agentproxy")]
        args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        self.assertEqual(flag_value(args, "--trust-source-namespaces"),
                         "corp-trust,pki,agentproxy-system")
        cluster = by_kind(objects)[("ClusterRole", "agentproxy")]["rules"]
        self.assertEqual(granted(cluster), CLUSTER_RULES)

    def test_every_rbac_rule_says_why(self):
        with open(os.path.join(CHART, "templates", "rbac.yaml"), encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        rules = [i for i, line in enumerate(lines) if re.match(r"^\s*- apiGroups:", line)]
        # 12 cluster-wide; the Lease, the sources and the webhook Secret in the release's
        # namespace; the sources in each trust source namespace.
        self.assertEqual(len(rules), 16)
        for i in rules:
            self.assertRegex(lines[i - 1], r"^\s*# \S", f"rule without a reason: {lines[i]}")

    def test_helm_package(self):
        out = tempfile.mkdtemp(prefix="chart-package-")
        try:
            result = run("helm", "package", CHART, "--destination", out)
            self.assertIn("Successfully packaged chart", result.stdout)
            version = chart_metadata()["version"]
            with tarfile.open(os.path.join(out, f"agentproxy-{version}.tgz")) as archive:
                names = set(archive.getnames())
            for name in ("agentproxy/Chart.yaml", "agentproxy/values.schema.json",
                         "agentproxy/files/crds/agentproxy.io_proxypolicies.yaml",
                         "agentproxy/templates/NOTES.txt"):
                self.assertIn(name, names)
        finally:
            shutil.rmtree(out)


class CertManagerAndServiceMonitorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.objects = template("certManager.enabled=true", "serviceMonitor.enabled=true",
                               "serviceMonitor.labels.release=prometheus")
        cls.kinds = by_kind(cls.objects)

    def test_certificate_for_the_webhook_service(self):
        issuer = self.kinds[("Issuer", "agentproxy")]
        self.assertEqual(issuer["apiVersion"], "cert-manager.io/v1")
        self.assertEqual(issuer["spec"], {"selfSigned": {}})
        cert = self.kinds[("Certificate", "agentproxy")]
        self.assertEqual(cert["spec"]["dnsNames"], [
            "agentproxy-webhook", f"agentproxy-webhook.{NAMESPACE}",
            f"agentproxy-webhook.{NAMESPACE}.svc",
            f"agentproxy-webhook.{NAMESPACE}.svc.cluster.local"])
        self.assertEqual(cert["spec"]["issuerRef"],
                         {"name": "agentproxy", "kind": "Issuer", "group": "cert-manager.io"})
        config = self.kinds[("MutatingWebhookConfiguration", "agentproxy")]
        self.assertEqual(config["metadata"]["annotations"],
                         {"cert-manager.io/inject-ca-from": f"{NAMESPACE}/agentproxy"})
        self.assertNotIn("caBundle", config["webhooks"][0]["clientConfig"])

    def test_the_certificate_secret_is_served(self):
        pod = self.kinds[("Deployment", "agentproxy")]["spec"]["template"]["spec"]
        container = pod["containers"][0]
        cert_dir = flag_value(container["args"], "--webhook-cert-dir")
        self.assertTrue(cert_dir)
        [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == cert_dir]
        self.assertTrue(mount["readOnly"])
        [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
        self.assertEqual(volume["secret"]["secretName"],
                         self.kinds[("Certificate", "agentproxy")]["spec"]["secretName"])

    def test_an_existing_issuer_can_be_used(self):
        kinds = by_kind(template("certManager.enabled=true",
                                 "certManager.issuerRef.name=corp-ca",
                                 "certManager.issuerRef.kind=ClusterIssuer"))
        self.assertNotIn(("Issuer", "agentproxy"), kinds)
        self.assertEqual(kinds[("Certificate", "agentproxy")]["spec"]["issuerRef"],
                         {"name": "corp-ca", "kind": "ClusterIssuer"})

    def test_lint_is_clean_with_these_values(self):
        result = run("helm", "lint", "--strict", CHART, "--set",
                     "certManager.enabled=true,serviceMonitor.enabled=true")
        self.assertIn("0 chart(s) failed", result.stdout)

    def test_service_monitor_needs_the_metrics_service(self):
        result = run("helm", "template", "agentproxy", CHART,
                     "--set", "serviceMonitor.enabled=true",
                     "--set", "metrics.service.enabled=false", check=False)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("serviceMonitor.enabled needs metrics.service.enabled", result.stderr)

    def test_service_monitor_scrapes_the_metrics_service(self):
        monitor = self.kinds[("ServiceMonitor", "agentproxy")]
        self.assertEqual(monitor["apiVersion"], "monitoring.coreos.com/v1")
        self.assertEqual(monitor["metadata"]["labels"]["release"], "prometheus")
        service = self.kinds[("Service", "agentproxy-metrics")]
        self.assertLessEqual(monitor["spec"]["selector"]["matchLabels"].items(),
                             service["metadata"]["labels"].items())
        # ... and only it, not the webhook Service.
        webhook = self.kinds[("Service", "agentproxy-webhook")]
        self.assertFalse(monitor["spec"]["selector"]["matchLabels"].items() <=
                         webhook["metadata"]["labels"].items())
        [endpoint] = monitor["spec"]["endpoints"]
        self.assertEqual((endpoint["port"], endpoint["path"]), ("metrics", "/metrics"))
        self.assertIn("metrics", [p["name"] for p in service["spec"]["ports"]])
        self.assertEqual(monitor["spec"]["namespaceSelector"], {"matchNames": [NAMESPACE]})


class ValuesSchemaTest(unittest.TestCase):
    def refused(self, *values):
        sets = [arg for value in values for arg in ("--set", value)]
        result = run("helm", "template", "agentproxy", CHART, *sets, check=False)
        self.assertNotEqual(result.returncode, 0, f"{values} accepted")
        self.assertIn("values don't meet the specifications of the schema", result.stderr)
        return result.stderr

    def test_bad_values_are_refused(self):
        self.assertIn("replicas: Invalid type. Expected: integer, given: string",
                      self.refused("replicas=two"))
        self.assertIn('webhook.failurePolicy must be one of the following: "Ignore", "Fail"',
                      self.refused("webhook.failurePolicy=Sometimes"))
        self.assertIn("replicas: Must be greater than or equal to 1", self.refused("replicas=0"))
        self.assertIn("Additional property replica is not allowed", self.refused("replica=3"))
        self.assertIn("webhook.timeoutSeconds", self.refused("webhook.timeoutSeconds=31"))
        self.assertIn("logLevel", self.refused("logLevel=verbose"))
        self.assertIn("crds.keep", self.refused("crds.keep=maybe"))
        self.assertIn("certManager.issuerRef.kind", self.refused(
            "certManager.enabled=true", "certManager.issuerRef.kind=Vault"))


class PlainManifestsTest(unittest.TestCase):
    def test_manifests_are_up_to_date(self):
        result = run(RENDER_SCRIPT, "--check", check=False)
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_manifests_are_the_chart_with_defaults_in_its_namespace(self):
        with open(MANIFESTS, encoding="utf-8") as handle:
            text = handle.read()
        self.assertTrue(text.startswith("# Generated by scripts/render-manifests.sh"))
        objects = load_yaml(text)
        namespace = objects[0]
        self.assertEqual((namespace["kind"], namespace["metadata"]["name"]),
                         ("Namespace", NAMESPACE))
        self.assertEqual(sorted(by_kind(objects[1:])), sorted(by_kind(template())))
        kinds = [o["kind"] for o in objects]
        self.assertIn("CustomResourceDefinition", kinds)

    def test_a_stale_file_is_reported_with_the_fix(self):
        work = tempfile.mkdtemp(prefix="render-manifests-")
        try:
            for path in ("charts", "crds", "manifests", "scripts"):
                shutil.copytree(os.path.join(ROOT, path), os.path.join(work, path),
                                ignore=shutil.ignore_patterns("__pycache__"))
            script = os.path.join(work, "scripts", "render-manifests.sh")
            self.assertEqual(run(script, "--check", check=False, cwd=work).returncode, 0)

            values = os.path.join(work, "charts", "agentproxy", "values.yaml")
            with open(values, encoding="utf-8") as handle:
                text = handle.read()
            with open(values, "w", encoding="utf-8") as handle:
                handle.write(text.replace("replicas: 2", "replicas: 3"))
            with open(os.path.join(work, "crds", "agentproxy.io_proxypolicies.yaml"), "a",
                      encoding="utf-8") as handle:
                handle.write("# changed\n")
            result = run(script, "--check", check=False, cwd=work)
            self.assertEqual(result.returncode, 1)
            self.assertIn("charts/agentproxy/files/crds/", result.stderr)
            self.assertIn("manifests/agentproxy.yaml", result.stderr)
            self.assertIn(FIX, result.stderr)

            run(script, cwd=work)
            self.assertEqual(run(script, "--check", check=False, cwd=work).returncode, 0)
        finally:
            shutil.rmtree(work)


if __name__ == "__main__":
    unittest.main()
