"""REST semantics of the API server, independent of HTTP.

Guarantees (each mirrors kube-apiserver behaviour):
- create sets uid, creationTimestamp, resourceVersion, generation=1 (for types
  that keep it), resolves generateName, defaults built-ins, clears status of
  types with a status subresource, calls mutating webhooks, validates (CRD schema
  incl. strict unknown-field checks when fieldValidation=Strict), 409 AlreadyExists.
- update/patch: 404 when missing, 409 Conflict on a stale metadata.resourceVersion,
  main resource ignores status and /status ignores everything but status (when the
  type has a status subresource), generation bumped when anything outside metadata
  (and status) changes, no write (same resourceVersion) when nothing changed.
- delete honours finalizers (deletionTimestamp set, object removed once finalizers
  are emptied), preconditions, dryRun; namespaces delete their content; CRDs their CRs.
- list: label/field selectors, limit/continue as a consistent snapshot, 410 when the
  snapshot's resourceVersion was compacted.
"""
import base64
import bisect
import json
import random
import re
import uuid

from . import humantime, schema
from .errors import ApiError, already_exists, bad_request, conflict, expired, invalid, not_found
from .patch import apply_patch, check_patch_type
from .resources import builtin_defaults, builtin_validate
from .selectors import fields_match, labels_match, parse_field_selector, parse_label_selector
from .store import clone, key_of

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
CONTINUE_TOO_OLD = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list.")
CRD_STORAGE = "apiextensions.k8s.io/customresourcedefinitions"
NAMESPACE_STORAGE = "/namespaces"


class Request:
    """What the REST layer needs from an HTTP request: its query parameters."""

    def __init__(self, params=None):
        self.params = params or {}

    def param(self, name, default=""):
        return self.params.get(name, default)

    @property
    def dry_run(self):
        return self.param("dryRun") == "All"

    @property
    def strict(self):
        return self.param("fieldValidation") == "Strict"


def _spec_part(rtype, obj):
    """The part of an object whose change bumps metadata.generation."""
    skip = {"metadata", "status"} if rtype.status_subresource else {"metadata"}
    return {k: v for k, v in obj.items() if k not in skip}


def _same_but_resource_version(a, b):
    """Whether two objects differ at most in metadata.resourceVersion (without copying them)."""
    if a.keys() != b.keys():
        return False
    for key, value in a.items():
        if key != "metadata":
            if value != b[key]:
                return False
        elif {k: v for k, v in value.items() if k != "resourceVersion"} != \
                {k: v for k, v in b[key].items() if k != "resourceVersion"}:
            return False
    return True


class Api:
    def __init__(self, store, registry, admission):
        self.store = store
        self.registry = registry
        self.admission = admission
        self._page_keys = {}  # (rv, storage, namespace, selectors) -> sorted keys

    # ---- reading -------------------------------------------------------------------------

    def external(self, rtype, obj):
        """Storage form -> the form served at rtype's group/version: a copy the caller owns."""
        out = clone(obj)
        if rtype.from_storage:
            out = rtype.from_storage(out)
        out["apiVersion"], out["kind"] = rtype.api_version, rtype.kind
        return out

    @staticmethod
    def view(rtype, obj):
        """Like external(), but sharing all but the top level with the stored object: for what
        is only read or serialised (lists, watch events, answers), never changed."""
        out = rtype.from_storage(obj) if rtype.from_storage else dict(obj)
        out["apiVersion"], out["kind"] = rtype.api_version, rtype.kind
        return out

    def get(self, rtype, namespace, name):
        with self.store.lock:
            obj = self.store.get(rtype.storage, (namespace if rtype.namespaced else "", name))
        if obj is None:
            raise not_found(rtype, name)
        return self.external(rtype, obj)

    def _selectors(self, rtype, request):
        return (parse_label_selector(request.param("labelSelector")),
                parse_field_selector(request.param("fieldSelector"), rtype))

    def matcher(self, rtype, namespace, request):
        labels, fields = self._selectors(rtype, request)

        def matches(obj):
            if namespace and obj["metadata"].get("namespace") != namespace:
                return False
            return labels_match(labels, obj["metadata"].get("labels")) and \
                (not fields or fields_match(fields, self.view(rtype, obj)))
        return matches

    def list(self, rtype, namespace, request):
        """Returns (items, resourceVersion, continue token, remaining count)."""
        matches = self.matcher(rtype, namespace, request)
        token = request.param("continue")
        with self.store.lock:
            start = None
            if token:
                rv, start = self._decode_continue(token)
            elif request.param("resourceVersionMatch") == "Exact":
                rv = int(request.param("resourceVersion") or self.store.rv)
                if rv < self.store.compacted_rv:
                    raise expired(f"too old resource version: {rv} ({self.store.compacted_rv + 1})")
            else:
                rv = self.store.rv
            objects = self.store.snapshot(rtype.storage, rv) if rv != self.store.rv \
                else self.store.items(rtype.storage)
            # Later pages of one list reuse its sorted keys: matching and sorting the whole
            # collection for every page made a 10,000-object list take seconds.
            cache_key = (rv, rtype.storage, namespace, request.param("labelSelector"),
                         request.param("fieldSelector"))
            keys = self._page_keys.get(cache_key) if token else None
            if keys is None:
                keys = sorted(k for k, o in objects.items() if matches(o))
                if len(self._page_keys) >= 8:
                    self._page_keys.pop(next(iter(self._page_keys)))
                self._page_keys[cache_key] = keys
            if start is not None:
                keys = keys[bisect.bisect_right(keys, start):]
        limit = int(request.param("limit") or 0)
        page, rest = (keys[:limit], keys[limit:]) if limit > 0 else (keys, [])
        next_token = self._encode_continue(rv, page[-1]) if rest else ""
        return [self.view(rtype, objects[k]) for k in page], str(rv), next_token, len(rest)

    @staticmethod
    def _encode_continue(rv, key):
        raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": list(key)})
        return base64.urlsafe_b64encode(raw.encode()).decode()

    def _decode_continue(self, token):
        try:
            data = json.loads(base64.urlsafe_b64decode(token.encode()))
            rv, start = int(data["rv"]), tuple(data["start"])
        except (ValueError, KeyError, TypeError):
            raise bad_request("continue key is not valid: invalid continue token") from None
        if rv < self.store.compacted_rv:
            raise expired(CONTINUE_TOO_OLD)
        return rv, start

    # ---- create --------------------------------------------------------------------------

    def _check_type_meta(self, rtype, obj):
        if not isinstance(obj, dict):
            raise bad_request("the object provided is unrecognized (must be of type object)")
        api_version = obj.get("apiVersion") or rtype.api_version
        if api_version != rtype.api_version or obj.get("kind", rtype.kind) != rtype.kind:
            raise bad_request(f"the API version in the data ({api_version}) does not match the "
                              f"expected API version ({rtype.api_version})")
        obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
        if not isinstance(obj.setdefault("metadata", {}), dict):
            raise bad_request("metadata must be an object")

    def _check_namespace(self, rtype, obj, namespace):
        meta = obj["metadata"]
        if not rtype.namespaced:
            meta.pop("namespace", None)
            return
        if meta.get("namespace") and namespace and meta["namespace"] != namespace:
            raise bad_request("the namespace of the provided object does not match the namespace "
                              "sent on the request")
        meta["namespace"] = namespace or meta.get("namespace") or "default"
        ns = self.store.get(NAMESPACE_STORAGE, ("", meta["namespace"]))
        if ns is None:
            raise not_found(self.registry.builtin("", "namespaces"), meta["namespace"])
        if ns["metadata"].get("deletionTimestamp"):
            raise ApiError(403, "Forbidden", f'{rtype.plural} "{meta.get("name", "")}" is '
                           f'forbidden: unable to create new content in namespace '
                           f'{meta["namespace"]} because it is being terminated',
                           {"name": meta.get("name", ""), "kind": rtype.plural})

    def _decode_custom(self, rtype, obj, request, old=None):
        """Prunes unknown fields of a custom resource, failing on them under Strict."""
        if not rtype.is_custom:
            return
        unknown = schema.prune_object(rtype.schema, obj)
        if unknown and request.strict:
            listed = ", ".join(f'unknown field "{u}"' for u in unknown)
            raise bad_request(f'{rtype.kind} in version "{rtype.version}" cannot be handled as a '
                              f'{rtype.kind}: strict decoding error: {listed}')

    def _validate(self, rtype, obj, old):
        meta = obj["metadata"]
        causes = []
        name = meta.get("name", "")
        if not name:
            causes.append(("metadata.name", "FieldValueRequired",
                           "Required value: name or generateName is required"))
        elif not DNS_SUBDOMAIN.match(name) or len(name) > 253:
            causes.append(("metadata.name", "FieldValueInvalid",
                           f'Invalid value: "{name}": {DNS_SUBDOMAIN_MESSAGE}'))
        if rtype.is_custom:
            causes += schema.validate_object(rtype.schema, obj, old)
        else:
            causes += builtin_validate(rtype, obj)
        if rtype.kind == "CustomResourceDefinition":
            causes += _crd_causes(obj)
        if causes:
            raise invalid(rtype.kind, rtype.group, name, causes)

    def create(self, rtype, namespace, obj, request):
        self._check_type_meta(rtype, obj)
        meta = obj["metadata"]
        with self.store.lock:
            self._check_namespace(rtype, obj, namespace)
        self._decode_custom(rtype, obj, request)
        for key in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp",
                    "deletionGracePeriodSeconds", "generation", "selfLink"):
            meta.pop(key, None)
        if rtype.status_subresource:
            obj.pop("status", None)
        _fold_string_data(rtype, obj)
        builtin_defaults(rtype, obj)
        obj = self.admission.mutate("CREATE", rtype, obj, None, request)
        if not meta.get("name") and obj["metadata"].get("generateName"):
            obj["metadata"]["name"] = obj["metadata"]["generateName"] + "".join(
                random.choice(GENERATE_ALPHABET) for _ in range(5))
        meta = obj["metadata"]
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = humantime.rfc3339()
        if rtype.has_generation:
            meta["generation"] = 1
        if rtype.kind == "CustomResourceDefinition":
            _crd_status(obj)
        self._validate(rtype, obj, None)
        stored = rtype.to_storage(obj) if rtype.to_storage else obj   # obj is this request's
        with self.store.lock:
            if self.store.get(rtype.storage, key_of(stored)) is not None:
                raise already_exists(rtype, meta["name"])
            if request.dry_run:
                return self.view(rtype, stored)
            created = self.store.commit(rtype.storage, "ADDED", stored, None)
            self._after_write(rtype, created)
        return self.view(rtype, created)

    # ---- update and patch ----------------------------------------------------------------

    def _merge_for_subresource(self, rtype, old, new, subresource):
        """`old` is read-only; `new` is this request's own. What is returned shares unchanged
        parts with both, and has metadata of its own (callers change it)."""
        if subresource == "status":
            merged = {k: v for k, v in old.items() if k != "status"}
            merged["metadata"] = dict(old["metadata"])
            if "status" in new:
                merged["status"] = new["status"]
            return merged
        if rtype.status_subresource:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        return new

    def _carry_metadata(self, rtype, old, new):
        meta, old_meta = new["metadata"], old["metadata"]
        for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                    "generation", "name", "namespace"):
            if key in old_meta:
                meta[key] = old_meta[key]
            else:
                meta.pop(key, None)
        if rtype.has_generation and _spec_part(rtype, old) != _spec_part(rtype, new):
            meta["generation"] = old_meta.get("generation", 1) + 1
        if old_meta.get("deletionTimestamp"):
            old_finalizers = old_meta.get("finalizers", [])
            added = [f for f in meta.get("finalizers", []) if f not in old_finalizers]
            if added:
                raise invalid(rtype.kind, rtype.group, meta["name"], [(
                    "metadata.finalizers", "FieldValueForbidden",
                    "Forbidden: no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers []string{{{', '.join(json.dumps(a) for a in added)}}}")])

    def update(self, rtype, namespace, name, obj, request, subresource="", expected_rv=None):
        """PUT semantics; expected_rv is the resourceVersion precondition (body's by default)."""
        self._check_type_meta(rtype, obj)
        key = (namespace if rtype.namespaced else "", name)
        if obj["metadata"].get("name", name) != name:
            raise bad_request(f'the name of the object ({obj["metadata"]["name"]}) does not match '
                              f'the name on the URL ({name})')
        with self.store.lock:
            current = self.store.get(rtype.storage, key)
        if current is None:
            raise not_found(rtype, name)
        old = self.view(rtype, current)
        if expected_rv is None:
            expected_rv = obj["metadata"].get("resourceVersion")
        if expected_rv and expected_rv != old["metadata"]["resourceVersion"]:
            raise conflict(rtype, name)
        self._decode_custom(rtype, obj, request, old)
        _fold_string_data(rtype, obj)
        new = self._merge_for_subresource(rtype, old, obj, subresource)
        self._carry_metadata(rtype, old, new)
        if subresource != "status":
            new = self.admission.mutate("UPDATE", rtype, new, old, request)
            self._carry_metadata(rtype, old, new)
        self._validate(rtype, new, old)
        stored = rtype.to_storage(new) if rtype.to_storage else new
        with self.store.lock:
            latest = self.store.get(rtype.storage, key)
            if latest is None:
                raise not_found(rtype, name)
            if latest["metadata"]["resourceVersion"] != old["metadata"]["resourceVersion"]:
                raise conflict(rtype, name)
            if _same_but_resource_version(latest, stored) or request.dry_run:
                stored["metadata"]["resourceVersion"] = latest["metadata"]["resourceVersion"]
                return self.view(rtype, stored)
            if stored["metadata"].get("deletionTimestamp") and \
                    not stored["metadata"].get("finalizers"):
                return self._remove(rtype, stored, latest)
            updated = self.store.commit(rtype.storage, "MODIFIED", stored, latest)
            self._after_write(rtype, updated)
        return self.view(rtype, updated)

    def patch(self, rtype, namespace, name, content_type, body, request, subresource=""):
        check_patch_type(content_type, rtype.is_custom)
        for _ in range(5):   # the real server retries patches on internal conflicts
            current = self.get(rtype, namespace, name)
            patched = apply_patch(content_type, current, body)
            if not isinstance(patched, dict):
                raise bad_request("the patch produced an object that is not a JSON object")
            patched.setdefault("metadata", {})
            wanted_rv = patched["metadata"].get("resourceVersion")
            if wanted_rv and wanted_rv != current["metadata"]["resourceVersion"]:
                raise conflict(rtype, name)
            try:
                return self.update(rtype, namespace, name, patched, request, subresource,
                                   expected_rv=current["metadata"]["resourceVersion"])
            except ApiError as err:
                if err.status["reason"] != "Conflict" or wanted_rv:
                    raise
        raise conflict(rtype, name)

    # ---- delete --------------------------------------------------------------------------

    def delete(self, rtype, namespace, name, request, options=None):
        """Returns (deleted_now, object or Status)."""
        options = options or {}
        key = (namespace if rtype.namespaced else "", name)
        with self.store.lock:
            current = self.store.get(rtype.storage, key)
            if current is None:
                raise not_found(rtype, name)
            _check_preconditions(rtype, current, options.get("preconditions") or {})
            if request.dry_run or options.get("dryRun") == ["All"]:
                return True, self.external(rtype, current)
            if rtype.kind == "Namespace":
                return self._delete_namespace(rtype, current)
            if rtype.kind == "CustomResourceDefinition":
                self._delete_custom_resources(current)
            if current["metadata"].get("finalizers"):
                return False, self.external(rtype, self._mark_deleting(rtype, current))
            return True, self._remove(rtype, current, current)

    def _mark_deleting(self, rtype, current):
        if current["metadata"].get("deletionTimestamp"):
            return current
        marked = clone(current)
        marked["metadata"]["deletionTimestamp"] = humantime.rfc3339()
        marked["metadata"]["deletionGracePeriodSeconds"] = 0
        if marked["metadata"].get("generation"):
            marked["metadata"]["generation"] += 1
        return self.store.commit(rtype.storage, "MODIFIED", marked, current)

    def _remove(self, rtype, obj, prev):
        removed = self.store.commit(rtype.storage, "DELETED", obj, prev)
        self._after_write(rtype, removed)
        if rtype.return_deleted_object:
            return self.external(rtype, removed)
        details = {"name": removed["metadata"]["name"], "kind": rtype.plural,
                   "uid": removed["metadata"]["uid"]}
        if rtype.group:
            details["group"] = rtype.group
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": details}

    def _delete_namespace(self, rtype, ns):
        name = ns["metadata"]["name"]
        namespaced = {t.storage: t for t in self.registry.all() if t.namespaced}
        for storage, owner in namespaced.items():
            for key, obj in list(self.store.items(storage).items()):
                if key[0] != name:
                    continue
                if obj["metadata"].get("finalizers"):
                    self._mark_deleting(owner, obj)
                else:
                    self.store.commit(storage, "DELETED", obj, obj)
        if not ns["metadata"].get("deletionTimestamp"):
            marked = clone(ns)
            marked["metadata"]["deletionTimestamp"] = humantime.rfc3339()
            marked["status"] = {"phase": "Terminating"}
            ns = self.store.commit(rtype.storage, "MODIFIED", marked, ns)
        self._finish_namespace(name)
        return False, self.external(rtype, ns)

    def _finish_namespace(self, name):
        ns = self.store.get(NAMESPACE_STORAGE, ("", name))
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        for rtype in self.registry.all():
            if rtype.namespaced and any(k[0] == name for k in self.store.items(rtype.storage)):
                return
        self.store.commit(NAMESPACE_STORAGE, "DELETED", ns, ns)

    def _delete_custom_resources(self, crd):
        storage = f"{crd['spec']['group']}/{crd['spec']['names']['plural']}"
        for obj in list(self.store.items(storage).values()):
            self.store.commit(storage, "DELETED", obj, obj)

    def _after_write(self, rtype, obj):
        """Keeps derived state in step: served CRD types, namespace termination, default SA."""
        if rtype.kind == "CustomResourceDefinition":
            self.registry.refresh(list(self.store.items(CRD_STORAGE).values()))
        elif rtype.kind == "Namespace" and self.store.get(NAMESPACE_STORAGE, key_of(obj)):
            self._ensure_default_service_account(obj["metadata"]["name"])
        if rtype.namespaced:
            self._finish_namespace(obj["metadata"].get("namespace", ""))

    def _ensure_default_service_account(self, namespace):
        storage = "/serviceaccounts"
        if self.store.get(storage, (namespace, "default")) is None:
            self.store.commit(storage, "ADDED", {
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": namespace,
                             "uid": str(uuid.uuid4()),
                             "creationTimestamp": humantime.rfc3339()}}, None)

    def bootstrap(self):
        """Creates the namespaces a fresh cluster has."""
        nstype = self.registry.builtin("", "namespaces")
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create(nstype, "", {"metadata": {"name": name}}, Request())


def _check_preconditions(rtype, current, preconditions):
    meta, name = current["metadata"], current["metadata"]["name"]
    for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
        if preconditions.get(key) and preconditions[key] != meta.get(key):
            error = conflict(rtype, name)
            error.status["message"] = (
                f'Operation cannot be fulfilled on {rtype.plural} "{name}": Precondition failed: '
                f'{label} in precondition: {preconditions[key]}, {label} in object meta: '
                f'{meta.get(key)}')
            raise error


def _fold_string_data(rtype, obj):
    if rtype.kind == "Secret" and rtype.group == "" and "stringData" in obj:
        data = obj.setdefault("data", {})
        for key, value in (obj.pop("stringData") or {}).items():
            data[key] = base64.b64encode(value.encode()).decode()


def _crd_causes(crd):
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    causes = []
    for field in ("group", "names", "scope", "versions"):
        if not spec.get(field):
            causes.append((f"spec.{field}", "FieldValueRequired", "Required value"))
    if causes:
        return causes
    for field in ("plural", "kind"):
        if not names.get(field):
            causes.append((f"spec.names.{field}", "FieldValueRequired", "Required value"))
    expected = f"{names.get('plural')}.{spec['group']}"
    if crd["metadata"].get("name") != expected:
        causes.append(("metadata.name", "FieldValueInvalid",
                       f'Invalid value: "{crd["metadata"].get("name")}": must be '
                       'spec.names.plural+"."+spec.group'))
    if spec["scope"] not in ("Cluster", "Namespaced"):
        causes.append(("spec.scope", "FieldValueNotSupported",
                       f'Unsupported value: "{spec["scope"]}": supported values: "Cluster", '
                       '"Namespaced"'))
    if sum(1 for v in spec["versions"] if v.get("storage")) != 1:
        causes.append(("spec.versions", "FieldValueInvalid",
                       "Invalid value: []apiextensions.CustomResourceDefinitionVersion{...}: "
                       "must have exactly one version marked as storage version"))
    return causes


def _crd_status(crd):
    now = humantime.rfc3339()
    names = dict(crd["spec"]["names"])
    names.setdefault("singular", names["kind"].lower())
    names.setdefault("listKind", names["kind"] + "List")
    crd["status"] = {
        "acceptedNames": names,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": now}],
        "storedVersions": [v["name"] for v in crd["spec"]["versions"] if v.get("storage")]}
