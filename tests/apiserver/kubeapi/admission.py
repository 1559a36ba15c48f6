"""Mutating admission webhooks, called the way kube-apiserver calls them.

For CREATE and UPDATE of any resource, each webhook of each
MutatingWebhookConfiguration (in name order) whose rules, namespaceSelector
(against the namespace's labels) and objectSelector match is sent an
admission.k8s.io/v1 AdmissionReview by HTTPS POST, with `?timeout=<n>s` added to
the URL as the real server does. The server certificate is verified with the
webhook's caBundle, against the URL's host or `<service>.<namespace>.svc`.
clientConfig.service is reached at 127.0.0.1:<port>, where the port comes from
the server's service map (--service NS/NAME=PORT, or POST /_test/services).
A JSONPatch response is applied; a denial becomes the real server's error; a call
failure obeys failurePolicy (Fail: 500 InternalError, Ignore: continue).

Not covered: matchConditions (CEL), reinvocationPolicy, matchPolicy Equivalent
(only exact group/version/resource rules match), sideEffects/dryRun interplay,
validating webhooks, admission for DELETE/CONNECT and subresources.
"""
import base64
import copy
import http.client
import json
import socket
import ssl
import threading
import urllib.parse
import uuid

from .errors import ApiError, internal
from .patch import json_patch
from .selectors import label_selector_object_matches

MWC_STORAGE = "admissionregistration.k8s.io/mutatingwebhookconfigurations"


def _matches_any(values, wanted):
    return "*" in values or wanted in values


def rule_matches(rule, operation, rtype):
    scope = rule.get("scope", "*")
    scope_ok = scope == "*" or (scope == "Namespaced") == rtype.namespaced
    return (scope_ok and _matches_any(rule.get("operations", []), operation)
            and _matches_any(rule.get("apiGroups", []), rtype.group)
            and _matches_any(rule.get("apiVersions", []), rtype.version)
            and _matches_any(rule.get("resources", []), rtype.plural))


class Admission:
    def __init__(self, store):
        self.store = store
        self.services = {}          # (namespace, name) -> local port
        self.calls = {}             # webhook name -> number of AdmissionReviews sent
        self._lock = threading.Lock()

    def _webhooks(self):
        with self.store.lock:
            configs = sorted(self.store.items(MWC_STORAGE).values(),
                             key=lambda c: c["metadata"]["name"])
        return [hook for config in configs for hook in config.get("webhooks") or []]

    def _namespace_labels(self, namespace):
        with self.store.lock:
            ns = self.store.get("/namespaces", ("", namespace))
        return (ns or {}).get("metadata", {}).get("labels", {})

    def _selected(self, hook, operation, rtype, obj, old):
        if not any(rule_matches(r, operation, rtype) for r in hook.get("rules") or []):
            return False
        if rtype.namespaced and not label_selector_object_matches(
                hook.get("namespaceSelector"), self._namespace_labels(
                    obj["metadata"].get("namespace", ""))):
            return False
        if rtype.kind == "Namespace" and not label_selector_object_matches(
                hook.get("namespaceSelector"), obj["metadata"].get("labels")):
            return False
        selector = hook.get("objectSelector")
        return any(label_selector_object_matches(selector, o["metadata"].get("labels"))
                   for o in (obj, old) if o is not None)

    def mutate(self, operation, rtype, obj, old, request):
        for hook in self._webhooks():
            if self._selected(hook, operation, rtype, obj, old):
                obj = self._call(hook, operation, rtype, obj, old, request)
        return obj

    def _review(self, operation, rtype, obj, old, request):
        gvk = {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}
        gvr = {"group": rtype.group, "version": rtype.version, "resource": rtype.plural}
        options_kind = "CreateOptions" if operation == "CREATE" else "UpdateOptions"
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
            "uid": str(uuid.uuid4()), "kind": gvk, "resource": gvr,
            "requestKind": gvk, "requestResource": gvr,
            "name": obj["metadata"].get("name", ""),
            "namespace": obj["metadata"].get("namespace", ""),
            "operation": operation,
            "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters",
                                                                    "system:authenticated"]},
            "object": obj, "oldObject": old, "dryRun": request.dry_run,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": options_kind}}}

    def _call(self, hook, operation, rtype, obj, old, request):
        name = hook["name"]
        with self._lock:
            self.calls[name] = self.calls.get(name, 0) + 1
        try:
            review = self._post(hook, self._review(operation, rtype, obj, old, request))
            response = review["response"]
        except ApiError:
            raise
        except Exception as err:   # any failure to get an answer obeys failurePolicy
            if hook.get("failurePolicy", "Fail") == "Ignore":
                return obj
            raise internal(f'failed calling webhook "{name}": failed to call webhook: {err}') \
                from None
        if not response.get("allowed"):
            raise _denied(name, response.get("status") or {})
        if response.get("patch"):
            if response.get("patchType", "JSONPatch") != "JSONPatch":
                raise internal(f'failed calling webhook "{name}": unsupported patch type')
            operations = json.loads(base64.b64decode(response["patch"]))
            obj = json_patch(obj, operations)
        return obj

    def _target(self, config):
        """(host to connect, port, TLS server name, path) for a webhook clientConfig."""
        if config.get("url"):
            url = urllib.parse.urlsplit(config["url"])
            path = url.path + (f"?{url.query}" if url.query else "")
            return url.hostname, url.port or 443, url.hostname, path
        service = config["service"]
        key = (service["namespace"], service["name"])
        port = self.services.get(key)
        if port is None:
            raise ConnectionError(f'service "{service["namespace"]}/{service["name"]}" has no '
                                  "local port mapping (use --service or /_test/services)")
        server_name = f"{service['name']}.{service['namespace']}.svc"
        return "127.0.0.1", port, server_name, service.get("path") or "/"

    def _post(self, hook, review):
        config = hook.get("clientConfig") or {}
        host, port, server_name, path = self._target(config)
        timeout = hook.get("timeoutSeconds", 10)
        context = ssl.create_default_context()
        if config.get("caBundle"):
            context = ssl.create_default_context(
                cadata=base64.b64decode(config["caBundle"]).decode())
        separator = "&" if "?" in path else "?"
        path = f"{path}{separator}timeout={timeout}s"
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        raw = socket.create_connection((host, port), timeout=timeout)
        connection.sock = context.wrap_socket(raw, server_hostname=server_name)
        try:
            connection.request("POST", path, body=json.dumps(review),
                               headers={"Content-Type": "application/json",
                                        "Accept": "application/json"})
            answer = connection.getresponse()
            body = answer.read()
        finally:
            connection.close()
        if answer.status != 200:
            raise ConnectionError(f"received HTTP {answer.status} from webhook")
        result = json.loads(body)
        if result.get("response", {}).get("uid") != review["request"]["uid"]:
            raise ValueError("expected response.uid to match the request.uid")
        return result


def _denied(name, status):
    status = copy.deepcopy(status)
    denied_by = f'admission webhook "{name}" denied the request'
    code = status.get("code", 0)
    if code < 400:
        code = 400
    message = status.get("message") or status.get("reason")
    text = f"{denied_by}: {message}" if message else f"{denied_by} without explanation"
    error = ApiError(code, status.get("reason", ""), text, status.get("details"))
    return error
