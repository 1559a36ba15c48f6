"""Structural-schema handling for custom resources, in the real server's order:
prune unknown fields (or report them for fieldValidation=Strict), drop nulls of
non-nullable fields, apply defaults, then validate and evaluate CEL rules.

Validation covers type, required, enum, pattern, min/maxLength, minimum/maximum,
exclusiveMinimum/Maximum, min/maxItems, additionalProperties, nullable,
x-kubernetes-int-or-string, x-kubernetes-preserve-unknown-fields and
x-kubernetes-validations (rules in the CEL subset of cel.py). Causes are
(field, reason, body) triples rendered like k8s.io/apimachinery field.Error.
"""
import json
import re

from . import cel

OBJECT_META_FIELDS = {"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion",
                      "generation", "creationTimestamp", "deletionTimestamp",
                      "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences",
                      "finalizers", "managedFields"}


def go_repr(value):
    """Renders a value the way field.Error prints it (%#v-like for scalars)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return '"' + json_type(value) + '"'


_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
               dict: "object"}


def json_type(value):
    kind = _JSON_TYPES.get(type(value))
    if kind is not None:
        return kind
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _join(path, key):
    return f"{path}.{key}" if path else key


def prune(schema, value, path, unknown):
    """Removes fields the schema does not declare; records their paths in `unknown`."""
    if schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("properties"):
        return value
    if isinstance(value, dict) and schema.get("type") == "object" or \
            isinstance(value, dict) and "properties" in schema:
        props = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key in list(value):
            if key in props:
                value[key] = prune(props[key], value[key], _join(path, key), unknown)
            elif isinstance(additional, dict):
                value[key] = prune(additional, value[key], _join(path, key), unknown)
            elif not schema.get("x-kubernetes-preserve-unknown-fields") and additional is not True:
                unknown.append(_join(path, key))
                del value[key]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(schema["items"], item, f"{path}[{i}]", unknown)
                for i, item in enumerate(value)]
    return value


def default(schema, value):
    """Drops nulls of non-nullable properties and fills in declared defaults."""
    if isinstance(value, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key in value and value[key] is None and not sub.get("nullable"):
                del value[key]
            if key not in value and "default" in sub:
                value[key] = json.loads(json.dumps(sub["default"]))
            if key in value:
                value[key] = default(sub, value[key])
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            for key in value:
                value[key] = default(additional, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [default(schema["items"], item) for item in value]
    return value


def _type_ok(schema, value):
    expected = schema.get("type")
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    if not expected:
        return True
    actual = json_type(value)
    return actual == expected or (expected == "number" and actual == "integer")


def _scalar_causes(schema, value, path):
    causes = []
    if isinstance(value, (dict, list)) and "enum" not in schema:
        return causes   # what follows checks scalars only

    def shown():   # only when there is something to say: most values are fine
        return go_repr(value)
    if "enum" in schema and value not in schema["enum"]:
        supported = ", ".join(go_repr(v) for v in schema["enum"])
        causes.append((path, "FieldValueNotSupported",
                       f"Unsupported value: {shown()}: supported values: {supported}"))
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            causes.append((path, "FieldValueTooLong",
                           f"Too long: may not be more than {schema['maxLength']} bytes"))
        if "minLength" in schema and len(value) < schema["minLength"]:
            causes.append((path, "FieldValueInvalid", f"Invalid value: {shown()}: {path} in body "
                           f"should be at least {schema['minLength']} chars long"))
        if "pattern" in schema and not re.search(schema["pattern"], value):
            causes.append((path, "FieldValueInvalid", f"Invalid value: {shown()}: {path} in body "
                           f"should match '{schema['pattern']}'"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for key, word, fails in (("minimum", "greater than", lambda v, m: v < m),
                                 ("maximum", "less than", lambda v, m: v > m)):
            if key not in schema:
                continue
            exclusive = schema.get("exclusiveM" + key[1:])
            limit = schema[key]
            if fails(value, limit) or (exclusive and value == limit):
                relation = word if exclusive else word + " or equal to"
                causes.append((path, "FieldValueInvalid", f"Invalid value: {shown()}: {path} "
                               f"in body should be {relation} {json.dumps(limit)}"))
    return causes


def _list_causes(schema, value, old, path):
    causes = []
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        causes.append((path, "FieldValueTooMany",
                       f"Too many: {len(value)}: must have at most {schema['maxItems']} items"))
    if "minItems" in schema and len(value) < schema["minItems"]:
        causes.append((path, "FieldValueInvalid", f"Invalid value: {len(value)}: {path} in body "
                       f"should have at least {schema['minItems']} items"))
    if isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            causes += validate(schema["items"], item, None, f"{path}[{i}]")
    return causes


def _object_causes(schema, value, old, path):
    causes = []
    props = schema.get("properties") or {}
    for key in schema.get("required") or []:
        if key not in value:
            causes.append((_join(path, key), "FieldValueRequired", "Required value"))
    old = old if isinstance(old, dict) else {}
    for key in sorted(value):
        sub = props.get(key)
        if sub is None and isinstance(schema.get("additionalProperties"), dict):
            sub = schema["additionalProperties"]
        if sub is not None:
            causes += validate(sub, value[key], old.get(key), _join(path, key))
    return causes


_TRANSITION_RULES = {}   # id(schema) -> (schema, whether a rule under it uses oldSelf)


def _has_transition_rules(schema):
    known = _TRANSITION_RULES.get(id(schema))
    if known is not None and known[0] is schema:
        return known[1]
    found = "oldSelf" in json.dumps(schema)
    if len(_TRANSITION_RULES) > 10000:
        _TRANSITION_RULES.clear()
    _TRANSITION_RULES[id(schema)] = (schema, found)   # keeps schema alive, so its id stays its
    return found


def validate(schema, value, old, path):
    """Returns the causes for `value` (old: the previous value on update, for transition rules).

    Validation ratcheting, as kube-apiserver 1.30+ does for custom resources: on update, a
    value equal to the old one is not validated again (unless a rule under it uses oldSelf);
    a status write, for instance, does not re-check the spec."""
    if old is not None and value == old and not _has_transition_rules(schema):
        return []
    if value is None:
        if schema.get("nullable"):
            return []
        return [(path, "FieldValueTypeInvalid", f'Invalid value: "null": {path} in body must be '
                 f'of type {schema.get("type", "object")}: "null"')]
    if not _type_ok(schema, value):
        expected = "integer,string" if schema.get("x-kubernetes-int-or-string") else schema["type"]
        return [(path, "FieldValueTypeInvalid", f'Invalid value: "{json_type(value)}": {path} in '
                 f'body must be of type {expected}: "{json_type(value)}"')]
    causes = _scalar_causes(schema, value, path)
    if isinstance(value, list):
        causes += _list_causes(schema, value, old, path)
    elif isinstance(value, dict):
        causes += _object_causes(schema, value, old, path)
    if not causes:
        causes += _rule_causes(schema, value, old, path)
    return causes


def _rule_causes(schema, value, old, path):
    causes = []
    for rule in schema.get("x-kubernetes-validations") or []:
        uses_old = "oldSelf" in rule["rule"]
        if uses_old and old is None:
            continue
        try:
            ok = cel.evaluate(rule["rule"], {"self": value, "oldSelf": old})
        except cel.CelError as err:
            ok, message = False, f"{rule['rule']}: {err}"
        else:
            message = rule.get("message") or f"failed rule: {rule['rule']}"
        if ok is not True:
            field = _join(path, rule["fieldPath"].lstrip(".")) if rule.get("fieldPath") else path
            reason = rule.get("reason", "FieldValueInvalid")
            causes.append((field, reason, f"Invalid value: \"{json_type(value)}\": {message}"))
    return causes


def validate_object(schema, obj, old_obj):
    """Validates a whole custom resource except metadata (checked by the server itself)."""
    body = {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind")}
    old_body = None if old_obj is None else \
        {k: v for k, v in old_obj.items() if k not in ("metadata", "apiVersion", "kind")}
    return validate(_body_schema(schema), body, old_body, "")


_BODY_SCHEMAS = {}   # id(schema) -> (schema, its body schema)


def _body_schema(schema):
    """The schema without metadata, apiVersion and kind; one per schema (not per request)."""
    known = _BODY_SCHEMAS.get(id(schema))
    if known is not None and known[0] is schema:
        return known[1]
    top = dict(schema)
    top["properties"] = {k: v for k, v in (schema.get("properties") or {}).items()
                         if k not in ("metadata", "apiVersion", "kind")}
    top["required"] = [r for r in schema.get("required") or []
                       if r not in ("metadata", "apiVersion", "kind")]
    if len(_BODY_SCHEMAS) > 1000:
        _BODY_SCHEMAS.clear()
    _BODY_SCHEMAS[id(schema)] = (schema, top)
    return top


def prune_object(schema, obj):
    """Prunes a custom resource; returns the list of unknown field paths that were removed."""
    unknown = []
    meta = obj.get("metadata") or {}
    for key in list(meta):
        if key not in OBJECT_META_FIELDS:
            unknown.append(f"metadata.{key}")
            del meta[key]
    props = dict(schema.get("properties") or {})
    props.update({"metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                  "apiVersion": {"type": "string"}, "kind": {"type": "string"}})
    prune(dict(schema, properties=props, type="object"), obj, "", unknown)
    default(dict(schema, properties=props), obj)
    return unknown
