"""Which resource types are served: the built-ins plus one per served version of each
established CustomResourceDefinition. Rebuilt whenever a CRD is written."""
import json

from . import humantime
from .resources import Column, ResourceType, builtin_types


def simple_jsonpath(obj, expr):
    """Evaluates `.a.b[0].c` (and `[*]`, taking the first match); returns (found, value)."""
    value = obj
    for token in expr.replace("[", ".[").strip(".").split("."):
        if not token:
            continue
        if token.startswith("["):
            index = token.strip("[]")
            if not isinstance(value, list) or not value:
                return False, None
            index = 0 if index == "*" else int(index)
            if index >= len(value):
                return False, None
            value = value[index]
        elif isinstance(value, dict) and token in value:
            value = value[token]
        else:
            return False, None
    return True, value


def _cell(column_type, value):
    """Cell value the way the CRD table convertor renders it (cellForJSONValue)."""
    if column_type == "string":
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if column_type == "integer" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    if column_type == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if column_type == "boolean" and isinstance(value, bool):
        return value
    if column_type == "date" and isinstance(value, str):
        return humantime.age(value)
    return None


def _printer_column(spec):
    def cell(obj):
        found, value = simple_jsonpath(obj, spec["jsonPath"])
        return _cell(spec["type"], value) if found and value is not None else None
    column_type = "string" if spec["type"] == "date" else spec["type"]
    return Column(spec["name"], column_type, cell, spec.get("format", ""),
                  spec.get("description", ""), spec.get("priority", 0))


def _with_api_version(api_version):
    def convert(obj):
        return dict(obj, apiVersion=api_version)
    return convert


def types_for_crd(crd):
    spec = crd["spec"]
    names = spec["names"]
    group = spec["group"]
    storage_version = next((v["name"] for v in spec["versions"] if v.get("storage")),
                           spec["versions"][0]["name"])
    result = []
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        columns = version.get("additionalPrinterColumns")
        result.append(ResourceType(
            group, version["name"], names["plural"], names["kind"],
            spec.get("scope", "Namespaced") == "Namespaced", singular=names.get("singular", ""),
            short_names=names.get("shortNames", []), categories=names.get("categories", []),
            status_subresource="status" in (version.get("subresources") or {}),
            has_generation=True, return_deleted_object=True,
            columns=[_printer_column(c) for c in columns] if columns else None,
            schema=(version.get("schema") or {}).get("openAPIV3Schema") or {},
            to_storage=_with_api_version(f"{group}/{storage_version}"),
            from_storage=_with_api_version(f"{group}/{version['name']}"),
            crd_name=crd["metadata"]["name"]))
    return result


class Registry:
    def __init__(self):
        self._builtins = builtin_types()
        self._types = {}
        self.refresh([])

    def refresh(self, crds):
        types = list(self._builtins)
        for crd in crds:
            if not crd["metadata"].get("deletionTimestamp"):
                types += types_for_crd(crd)
        self._types = {(t.group, t.version, t.plural): t for t in types}

    def lookup(self, group, version, plural):
        return self._types.get((group, version, plural))

    def all(self):
        return list(self._types.values())

    def builtin(self, group, plural):
        return next(t for t in self._builtins if t.group == group and t.plural == plural)

    def groups(self):
        """{group: [versions]} in registration order; the first version is preferred."""
        result = {}
        for rtype in self._types.values():
            versions = result.setdefault(rtype.group, [])
            if rtype.version not in versions:
                versions.append(rtype.version)
        return result

    def types_in(self, group, version):
        return [t for t in self._types.values() if t.group == group and t.version == version]
