"""The three patch types the real server accepts besides server-side apply.

- merge patch: RFC 7386 exactly.
- JSON patch: RFC 6902 (add, remove, replace, move, copy, test).
- strategic merge patch: approximated. Maps merge recursively; lists named in
  MERGE_KEYS are merged element-wise by their key (containers by name, service
  ports by port, admission webhooks by name, ...); metadata.finalizers merges as a set; any other list is
  replaced. The directives kubectl emits are honoured: `$patch: delete|replace`,
  `$setElementOrder/<list>` (ignored), `$deleteFromPrimitiveList/<list>`,
  `$retainKeys`.
Server-side apply (application/apply-patch+yaml) is not supported: 415.
"""
import json

from .errors import ApiError, bad_request
from .store import clone

MERGE_KEYS = {"containers": "name", "initContainers": "name", "ephemeralContainers": "name",
              "env": "name", "volumes": "name", "volumeMounts": "mountPath",
              "volumeDevices": "devicePath", "imagePullSecrets": "name", "hostAliases": "ip",
              "ownerReferences": "uid", "conditions": "type", "topologySpreadConstraints":
              "topologyKey", "resourceClaims": "name", "webhooks": "name"}
SET_LISTS = {"finalizers"}


def merge_patch(target, patch):
    """Returns a new object; what the patch leaves alone is shared with `target`, not copied."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _invalid_patch(message):
    return ApiError(422, "Invalid", message)


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise _invalid_patch(f"JSON pointer {path!r} does not start with '/'")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc, tokens, path):
    for token in tokens[:-1]:
        try:
            doc = doc[int(token)] if isinstance(doc, list) else doc[token]
        except (KeyError, IndexError, ValueError, TypeError):
            raise _invalid_patch(f"doc is missing path: \"{path}\": missing value") from None
    return doc


def _get(doc, tokens, path):
    parent = _parent(doc, tokens, path)
    try:
        return parent[int(tokens[-1])] if isinstance(parent, list) else parent[tokens[-1]]
    except (KeyError, IndexError, ValueError, TypeError):
        raise _invalid_patch(f"doc is missing path: \"{path}\": missing value") from None


def _remove(doc, tokens, path):
    value = _get(doc, tokens, path)
    parent = _parent(doc, tokens, path)
    if isinstance(parent, list):
        del parent[int(tokens[-1])]
    else:
        del parent[tokens[-1]]
    return value


def _add(doc, tokens, value, path):
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if index > len(parent):
            raise _invalid_patch(f"add operation does not apply: doc is missing path: \"{path}\"")
        parent.insert(index, value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise _invalid_patch(f"add operation does not apply: doc is missing path: \"{path}\"")
    return doc


def json_patch(target, operations):
    if not isinstance(operations, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = clone(target)
    for op in operations:
        kind, path = op.get("op"), op.get("path", "")
        tokens = _pointer(path)
        if kind == "add":
            doc = _add(doc, tokens, clone(op.get("value")), path)
        elif kind == "remove":
            _remove(doc, tokens, path)
        elif kind == "replace":
            _remove(doc, tokens, path)
            doc = _add(doc, tokens, clone(op.get("value")), path)
        elif kind in ("move", "copy"):
            source = _pointer(op.get("from", ""))
            value = _remove(doc, source, op["from"]) if kind == "move" else \
                clone(_get(doc, source, op["from"]))
            doc = _add(doc, tokens, value, path)
        elif kind == "test":
            if _get(doc, tokens, path) != op.get("value"):
                raise _invalid_patch(f"testing value {path} failed: test failed")
        else:
            raise bad_request(f"Unexpected kind: {kind}")
    return doc


def _merge_key(name, items):
    if name == "ports":
        return "containerPort" if any("containerPort" in i for i in items if isinstance(i, dict)) \
            else "port"
    return MERGE_KEYS.get(name)


def _merge_list(name, current, patch):
    if name in SET_LISTS:
        return list(current) + [v for v in patch if v not in current]
    key = _merge_key(name, list(current) + list(patch))
    if not key or not all(isinstance(i, dict) for i in list(current) + list(patch)):
        return clone(patch)
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [i for i in clone(patch) if i.get("$patch") != "replace"]
    result = clone(current)
    for item in patch:
        index = next((n for n, existing in enumerate(result) if existing.get(key) == item.get(key)),
                     None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(strategic_merge_patch({}, item))
        else:
            result[index] = strategic_merge_patch(result[index], item)
    return result


def strategic_merge_patch(target, patch):
    if not isinstance(patch, dict):
        return clone(patch)
    if patch.get("$patch") == "replace":
        return {k: v for k, v in clone(patch).items() if k != "$patch"}
    result = clone(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [v for v in result.get(name, []) if v not in value]
        elif value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and value.get("$patch") == "delete":
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_list(key, result[key], value)
        elif isinstance(value, list):
            result[key] = _merge_list(key, [], value)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    if retain is not None:
        result = {k: v for k, v in result.items() if k in retain}
    return result


PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json")


def check_patch_type(content_type, custom):
    """415 for server-side apply and, on custom resources, strategic merge (as the real one)."""
    if content_type in PATCH_TYPES and not (
            custom and content_type == "application/strategic-merge-patch+json"):
        return
    accepted = PATCH_TYPES[:2] if custom else PATCH_TYPES
    raise ApiError(415, "UnsupportedMediaType",
                   "the body of the request was in an unknown format - accepted media types "
                   f"include: {', '.join(accepted)}")


def apply_patch(content_type, target, body):
    try:
        patch = json.loads(body)
    except ValueError as err:
        raise bad_request(f"error decoding patch: {err}") from None
    if content_type == "application/merge-patch+json":
        if not isinstance(patch, dict):
            raise bad_request("json: cannot unmarshal array into Go value of type "
                              "map[string]interface {}")
        return merge_patch(target, patch)
    if content_type == "application/json-patch+json":
        return json_patch(target, patch)
    return strategic_merge_patch(target, patch)
