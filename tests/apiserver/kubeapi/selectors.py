"""Label and field selectors: the query-string forms and metav1.LabelSelector objects."""
import re

from .errors import bad_request

_REQUIREMENT = re.compile(
    r"\s*(?P<not>!)?\s*(?P<key>[A-Za-z0-9./_-]+)\s*"
    r"(?:(?P<op>==|=|!=|\s+in\s+|\s+notin\s+)\s*(?P<value>\([^)]*\)|[A-Za-z0-9._-]*))?\s*$")


def _split_top_level(text):
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def parse_label_selector(text):
    """Parses `a=b,c!=d,e in (f,g),h notin (i),j,!k` into (key, op, values) requirements."""
    requirements = []
    for part in _split_top_level(text or ""):
        match = _REQUIREMENT.match(part)
        if not match or (match["not"] and match["op"]):
            raise bad_request(f'unable to parse requirement: found \'{part.strip()}\', '
                              'expected: identifier')
        op = (match["op"] or "").strip()
        if match["not"]:
            requirements.append((match["key"], "!", []))
        elif not op:
            requirements.append((match["key"], "exists", []))
        elif op in ("in", "notin"):
            values = [v.strip() for v in match["value"].strip("()").split(",") if v.strip()]
            requirements.append((match["key"], op, values))
        else:
            requirements.append((match["key"], "!=" if op == "!=" else "=", [match["value"]]))
    return requirements


def _requirement_holds(labels, key, op, values):
    present = key in labels
    if op == "exists":
        return present
    if op == "!":
        return not present
    if op in ("=", "in"):
        return present and labels[key] in values
    return not present or labels[key] not in values  # != and notin


def labels_match(requirements, labels):
    return all(_requirement_holds(labels or {}, *req) for req in requirements)


def label_selector_object_matches(selector, labels):
    """metav1.LabelSelector semantics; None matches everything, {} matches everything."""
    if selector is None:
        return True
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    return all(expr["operator"] in ops and
               _requirement_holds(labels, expr["key"], ops[expr["operator"]],
                                  expr.get("values") or [])
               for expr in selector.get("matchExpressions") or [])


def parse_field_selector(text, rtype):
    """Parses `a=b,c!=d`; keys must be ones the real server supports for this type."""
    allowed = {"metadata.name"} | set(rtype.field_labels)
    if rtype.namespaced:
        allowed.add("metadata.namespace")
    requirements = []
    for part in _split_top_level(text or ""):
        match = re.match(r"\s*([A-Za-z0-9._-]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not match:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        key, op, value = match.groups()
        if key not in allowed:
            raise bad_request(f'"{key}" is not a known field selector: only "metadata.name", '
                              '"metadata.namespace"')
        requirements.append((key, op != "!=", value))
    return requirements


def field_value(obj, dotted):
    value = obj
    for key in dotted.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, dict) and dotted == "source":
        return value.get("component", "")
    return str(value)


def fields_match(requirements, obj):
    return all((field_value(obj, key) == value) == equal for key, equal, value in requirements)
