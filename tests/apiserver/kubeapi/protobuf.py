"""Decoding of the Kubernetes protobuf request bodies that typed Go clients send.

client-go's typed clientsets (helm's release storage among them) send
`application/vnd.kubernetes.protobuf` bodies for built-in types while accepting
JSON answers. Only the messages such clients write to this server are known:
Secret, ConfigMap, Namespace, ServiceAccount, DeleteOptions (and ObjectMeta inside
them; status fields are not decoded); any other type is a 415 answer, so e.g.
`kubectl create deployment` or `kubectl run` do not work (use `kubectl apply -f`).
Responses are always JSON.
"""
import base64
import datetime

from .errors import ApiError

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

# field number -> (name, kind); kinds: str, bytes, int, bool, time, msg:<schema>,
# map_str, map_bytes, rep_str, rep_msg:<schema>
SCHEMAS = {
    "TypeMeta": {1: ("apiVersion", "str"), 2: ("kind", "str")},
    "Unknown": {1: ("typeMeta", "msg:TypeMeta"), 2: ("raw", "bytes"),
                3: ("contentEncoding", "str"), 4: ("contentType", "str")},
    "ObjectMeta": {1: ("name", "str"), 2: ("generateName", "str"), 3: ("namespace", "str"),
                   4: ("selfLink", "str"), 5: ("uid", "str"), 6: ("resourceVersion", "str"),
                   7: ("generation", "int"), 8: ("creationTimestamp", "time"),
                   9: ("deletionTimestamp", "time"), 10: ("deletionGracePeriodSeconds", "int"),
                   11: ("labels", "map_str"), 12: ("annotations", "map_str"),
                   13: ("ownerReferences", "rep_msg:OwnerReference"),
                   14: ("finalizers", "rep_str")},
    "OwnerReference": {1: ("kind", "str"), 3: ("name", "str"), 4: ("uid", "str"),
                       5: ("apiVersion", "str"), 6: ("controller", "bool"),
                       7: ("blockOwnerDeletion", "bool")},
    "Time": {1: ("seconds", "int"), 2: ("nanos", "int")},
    "Secret": {1: ("metadata", "msg:ObjectMeta"), 2: ("data", "map_bytes"), 3: ("type", "str"),
               4: ("stringData", "map_str"), 5: ("immutable", "bool")},
    "ConfigMap": {1: ("metadata", "msg:ObjectMeta"), 2: ("data", "map_str"),
                  3: ("binaryData", "map_bytes"), 4: ("immutable", "bool")},
    "Namespace": {1: ("metadata", "msg:ObjectMeta"), 2: ("spec", "msg:NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "rep_str")},
    "ServiceAccount": {1: ("metadata", "msg:ObjectMeta"),
                       3: ("imagePullSecrets", "rep_msg:LocalObjectReference"),
                       4: ("automountServiceAccountToken", "bool")},
    "LocalObjectReference": {1: ("name", "str")},
    "DeleteOptions": {1: ("gracePeriodSeconds", "int"), 2: ("preconditions", "msg:Preconditions"),
                      3: ("orphanDependents", "bool"), 4: ("propagationPolicy", "str"),
                      5: ("dryRun", "rep_str")},
    "Preconditions": {1: ("uid", "str"), 2: ("resourceVersion", "str")},
}
TOP_LEVEL = {"Secret", "ConfigMap", "Namespace", "ServiceAccount", "DeleteOptions"}


def _varint(data, pos):
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data):
    """Yields (field number, wire type, value) for a serialized message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def _map_entry(data):
    entry = {1: b"", 2: b""}
    for number, _, value in _fields(data):
        entry[number] = value
    return entry[1].decode(), entry[2]


def _time(data):
    seconds = decode_message(data, "Time").get("seconds", 0)
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _value(kind, value, out, name):
    if kind in ("str", "int", "bool", "bytes") and not value:
        return   # Go zero values are "unset", as JSON omitempty would render them
    if kind == "str":
        out[name] = value.decode()
    elif kind == "bytes":
        out[name] = value
    elif kind in ("int", "bool"):
        out[name] = bool(value) if kind == "bool" else value
    elif kind == "time":
        out[name] = _time(value)
    elif kind.startswith("msg:"):
        out[name] = decode_message(value, kind[4:])
    elif kind == "map_str":
        key, item = _map_entry(value)
        out.setdefault(name, {})[key] = item.decode()
    elif kind == "map_bytes":
        key, item = _map_entry(value)
        out.setdefault(name, {})[key] = base64.b64encode(item).decode()
    elif kind == "rep_str":
        out.setdefault(name, []).append(value.decode())
    elif kind.startswith("rep_msg:"):
        out.setdefault(name, []).append(decode_message(value, kind[8:]))


def decode_message(data, schema_name):
    schema, out = SCHEMAS[schema_name], {}
    for number, _, value in _fields(data):
        if number in schema:
            name, kind = schema[number]
            _value(kind, value, out, name)
    return out


def decode_object(body):
    """Decodes a `k8s\\0`-prefixed runtime.Unknown envelope into a JSON-shaped dict."""
    if not body.startswith(MAGIC):
        raise ApiError(415, "UnsupportedMediaType", "protobuf body without the k8s envelope")
    envelope = decode_message(body[len(MAGIC):], "Unknown")
    type_meta = envelope.get("typeMeta", {})
    kind = type_meta.get("kind", "")
    if kind not in TOP_LEVEL:
        raise ApiError(415, "UnsupportedMediaType",
                       f"the test server cannot decode protobuf for kind {kind!r}; send JSON")
    obj = decode_message(envelope.get("raw", b""), kind)
    if type_meta.get("apiVersion"):
        obj["apiVersion"] = type_meta["apiVersion"]
    obj["kind"] = kind
    return obj
