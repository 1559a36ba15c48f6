"""Mutating admission: the test API server calls a real HTTPS webhook (a tiny Python
server here) for Pod CREATE, honouring rules, selectors, failurePolicy and timeouts,
and applies the returned JSONPatch."""
import base64
import http.server
import json
import shutil
import socket
import ssl
import tempfile
import threading
import time
import unittest

from harness import ServerTestCase
from kubeapi.certs import make_ca, make_serving_cert

PODS = "/api/v1/namespaces/{}/pods"
MWC = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"


class Webhook:
    """An HTTPS admission webhook that records reviews and answers per its `mode`."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="webhook-test-")
        ca = make_ca(self.dir, "webhook-ca")
        cert, key = make_serving_cert(self.dir, "webhook", ca,
                                      dns_names=("localhost", "injector.agentproxy-system.svc"))
        with open(ca[0], "rb") as handle:
            self.ca_bundle = base64.b64encode(handle.read()).decode()
        self.reviews, self.paths, self.mode = [], [], "patch"
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        webhook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                webhook.reviews.append(review)
                webhook.paths.append(self.path)
                body = json.dumps(webhook.answer(review)).encode()
                if webhook.mode == "slow":
                    time.sleep(2)
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:   # the API server gave up waiting (the timeout test)
                    self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, review):
        uid = review["request"]["uid"]
        if self.mode == "deny":
            return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                    "response": {"uid": uid, "allowed": False,
                                 "status": {"code": 403, "message": "no proxy for you"}}}
        patch = [{"op": "add", "path": "/metadata/labels/injected", "value": "true"},
                 {"op": "add", "path": "/spec/containers/0/env",
                  "value": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}]}]
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "response": {"uid": uid, "allowed": True, "patchType": "JSONPatch",
                             "patch": base64.b64encode(json.dumps(patch).encode()).decode()}}

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pod(name, labels):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "agent", "image": "agent:1"}]}}


class AdmissionTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.webhook = Webhook()
        for name, labels in (("injected", {"agentproxy.io/inject": "enabled"}), ("plain", {})):
            cls.server.ok("POST", "/api/v1/namespaces",
                          {"metadata": {"name": name, "labels": labels}})

    @classmethod
    def tearDownClass(cls):
        cls.webhook.stop()
        super().tearDownClass()

    def setUp(self):
        self.webhook.reviews.clear()
        self.webhook.paths.clear()
        self.webhook.mode = "patch"

    def register(self, name, client_config, failure_policy="Fail", timeout=5):
        config = {"apiVersion": "admissionregistration.k8s.io/v1",
                  "kind": "MutatingWebhookConfiguration", "metadata": {"name": name},
                  "webhooks": [{
                      "name": f"{name}.agentproxy.io", "clientConfig": client_config,
                      "rules": [{"operations": ["CREATE"], "apiGroups": [""],
                                 "apiVersions": ["v1"], "resources": ["pods"]}],
                      "namespaceSelector": {"matchLabels": {"agentproxy.io/inject": "enabled"}},
                      "objectSelector": {"matchExpressions": [
                          {"key": "app", "operator": "In", "values": ["agent"]}]},
                      "failurePolicy": failure_policy, "timeoutSeconds": timeout,
                      "sideEffects": "None", "admissionReviewVersions": ["v1"]}]}
        self.server.ok("POST", MWC, config)
        self.addCleanup(self.server.ok, "DELETE", f"{MWC}/{name}")

    def url_config(self, port=None):
        return {"url": f"https://127.0.0.1:{port or self.webhook.port}/mutate",
                "caBundle": self.webhook.ca_bundle}

    def test_matching_pod_is_patched_via_url_webhook(self):
        self.register("by-url", self.url_config())
        created = self.server.ok("POST", PODS.format("injected"), pod("p1", {"app": "agent"}))
        self.assertEqual(created["metadata"]["labels"]["injected"], "true")
        self.assertEqual(created["spec"]["containers"][0]["env"][0]["name"], "HTTPS_PROXY")
        request = self.webhook.reviews[0]["request"]
        self.assertEqual(self.webhook.reviews[0]["apiVersion"], "admission.k8s.io/v1")
        self.assertEqual((request["operation"], request["namespace"], request["name"]),
                         ("CREATE", "injected", "p1"))
        self.assertEqual(request["resource"], {"group": "", "version": "v1", "resource": "pods"})
        self.assertEqual(self.webhook.paths[0], "/mutate?timeout=5s")
        calls = self.server.ok("GET", "/_test/requests")["webhookCalls"]
        self.assertEqual(calls["by-url.agentproxy.io"], 1)

    def test_selectors_and_rules_limit_calls(self):
        self.register("selective", self.url_config())
        self.server.ok("POST", PODS.format("plain"), pod("p2", {"app": "agent"}))
        self.server.ok("POST", PODS.format("injected"), pod("p3", {"app": "other"}))
        self.server.ok("POST", "/api/v1/namespaces/injected/configmaps",
                       {"metadata": {"name": "c", "labels": {"app": "agent"}}})
        self.assertEqual(self.webhook.reviews, [])

    def test_service_reference_is_mapped_to_a_local_port(self):
        self.server.ok("POST", "/_test/services", {"namespace": "agentproxy-system",
                                                   "name": "injector", "port": self.webhook.port})
        self.register("by-service", {"service": {"namespace": "agentproxy-system",
                                                 "name": "injector", "path": "/mutate"},
                                     "caBundle": self.webhook.ca_bundle})
        manifest = pod("p4", {"app": "agent"})
        self.server.kubectl("-n", "injected", "apply", "-f", "-", input_text=json.dumps(manifest))
        labels = self.server.ok("GET", PODS.format("injected") + "/p4")["metadata"]["labels"]
        self.assertEqual(labels["injected"], "true")

    def test_failure_policy_fail_and_ignore(self):
        self.register("unreachable", self.url_config(port=free_port()))
        status, body, _ = self.server.request("POST", PODS.format("injected"),
                                              pod("p5", {"app": "agent"}))
        self.assertEqual((status, body["reason"]), (500, "InternalError"))
        self.assertIn('failed calling webhook "unreachable.agentproxy.io"', body["message"])
        self.doCleanups()   # unregisters "unreachable"
        self.register("ignored", self.url_config(port=free_port()), failure_policy="Ignore")
        self.server.ok("POST", PODS.format("injected"), pod("p6", {"app": "agent"}))

    def test_timeout_applies_failure_policy(self):
        self.webhook.mode = "slow"
        self.register("slow", self.url_config(), timeout=1)
        started = time.monotonic()
        status, body, _ = self.server.request("POST", PODS.format("injected"),
                                              pod("p7", {"app": "agent"}))
        self.assertEqual(status, 500)
        self.assertLess(time.monotonic() - started, 1.9)

    def test_denial_is_reported_like_the_real_server(self):
        self.webhook.mode = "deny"
        self.register("denier", self.url_config())
        result = self.server.kubectl("-n", "injected", "apply", "-f", "-", check=False,
                                     input_text=json.dumps(pod("p8", {"app": "agent"})))
        self.assertIn('admission webhook "denier.agentproxy.io" denied the request: '
                      "no proxy for you", result.stderr)


if __name__ == "__main__":
    unittest.main()
