"""Legacy (unaggregated) discovery documents and the OpenAPI v3 documents clients use.

The OpenAPI v3 documents are minimal but shaped like the real ones where clients
look: /openapi/v3 lists one entry per group/version with a hash-bearing
serverRelativeURL, and each group/version document has a path per resource whose
PATCH operation carries x-kubernetes-group-version-kind, the fieldValidation
query parameter (so kubectl/helm delegate validation to the server) and the
accepted patch media types. Strategic merge is never listed, so kubectl and helm
build strategic patches for built-ins from their compiled-in types (what they do
with the real schemas too) and JSON merge patches for custom resources.
components.schemas holds the CRD schemas; built-in schemas are empty objects.

Aggregated discovery (apidiscovery.k8s.io/v2, what kubectl 1.32 asks for first)
is served for /api and /apis when the Accept header asks for it; v2beta1 is not,
so older clients use the legacy documents.
"""
import hashlib
import json
import re

from .resources import ALL_VERBS

VERSION_INFO = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-agentproxy-test",
                "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
                "buildDate": "2024-12-11T00:00:00Z", "goVersion": "go1.23.4", "compiler": "gc",
                "platform": "linux/amd64"}


def version_priority(version):
    """Kube-aware ordering: GA before beta before alpha, higher numbers first."""
    match = re.match(r"^v(\d+)(?:(alpha|beta)(\d+))?$", version)
    if not match:
        return (3, 0, 0, version)
    major, stage, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), version)


def resource_list(registry, group, version):
    resources = []
    for rtype in registry.types_in(group, version):
        entry = {"name": rtype.plural, "singularName": rtype.singular,
                 "namespaced": rtype.namespaced, "kind": rtype.kind,
                 "verbs": ALL_VERBS}
        if rtype.short_names:
            entry["shortNames"] = rtype.short_names
        if rtype.categories:
            entry["categories"] = rtype.categories
        entry["storageVersionHash"] = hashlib.sha256(rtype.storage.encode()).hexdigest()[:11]
        resources.append(entry)
        if rtype.status_subresource:
            resources.append({"name": f"{rtype.plural}/status", "singularName": "",
                              "namespaced": rtype.namespaced, "kind": rtype.kind,
                              "verbs": ["get", "patch", "update"]})
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": resources}


def _discovery_resource(rtype):
    kind = {"group": rtype.group, "version": rtype.version, "kind": rtype.kind}
    entry = {"resource": rtype.plural, "responseKind": kind,
             "scope": "Namespaced" if rtype.namespaced else "Cluster",
             "singularResource": rtype.singular, "verbs": ALL_VERBS}
    if rtype.short_names:
        entry["shortNames"] = rtype.short_names
    if rtype.categories:
        entry["categories"] = rtype.categories
    if rtype.status_subresource:
        entry["subresources"] = [{"subresource": "status", "responseKind": kind,
                                  "verbs": ["get", "patch", "update"]}]
    return entry


def aggregated(registry, legacy):
    """APIGroupDiscoveryList for /api (legacy=True) or /apis."""
    items = []
    for name, versions in registry.groups().items():
        if (name == "") != legacy:
            continue
        items.append({"metadata": {"name": name} if name else {}, "versions": [
            {"version": v, "freshness": "Current",
             "resources": [_discovery_resource(t) for t in registry.types_in(name, v)]}
            for v in sorted(versions, key=version_priority)]})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {}, "items": items}


def _group_entry(name, versions):
    ordered = sorted(versions, key=version_priority)
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in ordered]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


def api_versions(address):
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]}


def api_group_list(registry):
    groups = [_group_entry(name, versions) for name, versions in registry.groups().items()
              if name]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry, name):
    versions = registry.groups().get(name)
    if not versions:
        return None
    return dict(_group_entry(name, versions), kind="APIGroup", apiVersion="v1")


# ---- OpenAPI v3 --------------------------------------------------------------------------

def _gv_path(group, version):
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _schema_name(rtype):
    group = ".".join(reversed(rtype.group.split("."))) if rtype.group else "io.k8s.api.core"
    return f"{group}.{rtype.version}.{rtype.kind}"


def _patch_operation(rtype):
    media = ["application/json-patch+json", "application/merge-patch+json",
             "application/apply-patch+yaml"]
    ref = {"$ref": f"#/components/schemas/{_schema_name(rtype)}"}
    return {
        "operationId": f"patch{rtype.kind}",
        "parameters": [
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string",
                                                               "uniqueItems": True}},
            {"name": "fieldValidation", "in": "query",
             "schema": {"type": "string", "uniqueItems": True}},
            {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": True}}],
        "requestBody": {"content": {m: {"schema": {"type": "object"}} for m in media},
                        "required": True},
        "responses": {"200": {"description": "OK", "content": {"application/json":
                                                               {"schema": ref}}}},
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": {"group": rtype.group, "version": rtype.version,
                                            "kind": rtype.kind}}


def openapi_v3_gv(registry, group, version):
    paths, schemas = {}, {}
    prefix = "/" + _gv_path(group, version)
    for rtype in registry.types_in(group, version):
        scope = "/namespaces/{namespace}" if rtype.namespaced else ""
        item_path = f"{prefix}{scope}/{rtype.plural}/{{name}}"
        paths[item_path] = {"patch": _patch_operation(rtype)}
        body = dict(rtype.schema or {"type": "object"})
        body["x-kubernetes-group-version-kind"] = [{"group": rtype.group,
                                                    "version": rtype.version, "kind": rtype.kind}]
        if not rtype.is_custom:
            body["x-kubernetes-preserve-unknown-fields"] = True
        schemas[_schema_name(rtype)] = body
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"},
            "paths": paths, "components": {"schemas": schemas}}


def openapi_v3_root(registry):
    paths = {}
    for group, versions in registry.groups().items():
        for version in versions:
            document = json.dumps(openapi_v3_gv(registry, group, version), sort_keys=True)
            digest = hashlib.sha512(document.encode()).hexdigest()[:128].upper()
            path = _gv_path(group, version)
            paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}
