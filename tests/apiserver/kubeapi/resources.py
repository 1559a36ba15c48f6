"""Resource types the server serves: the built-in ones and those declared by CRDs.

A ResourceType holds everything the generic handlers need: names and scope for
discovery, which subresources exist, whether metadata.generation is kept, the
field selectors the real server accepts, table columns, and for CRDs the
per-version schema. Built-in types get only the defaults the real server
applies that tests are likely to observe (see builtin_defaults).
"""
import dataclasses
import itertools
import typing

from . import humantime

NAME_DESCRIPTION = ("Name must be unique within a namespace. Is required when creating resources, "
                    "although some resources may allow a client to request the generation of an "
                    "appropriate name automatically. Name is primarily intended for creation "
                    "idempotence and configuration definition. Cannot be updated.")
AGE_DESCRIPTION = ("CreationTimestamp is a timestamp representing the server time when this object "
                   "was created.")

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclasses.dataclass
class Column:
    name: str
    type: str
    cell: typing.Callable  # obj -> cell value (None prints as <none>)
    format: str = ""
    description: str = ""
    priority: int = 0


@dataclasses.dataclass
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: list = dataclasses.field(default_factory=list)
    categories: list = dataclasses.field(default_factory=list)
    status_subresource: bool = False
    has_generation: bool = False
    return_deleted_object: bool = False
    field_labels: tuple = ()          # field selector keys beyond metadata.name/namespace
    columns: list = None              # printer columns after Name; None = Age only
    schema: dict = None               # openAPIV3Schema (CRDs only)
    storage: str = ""                 # storage bucket; types sharing one see the same objects
    to_storage: typing.Callable = None
    from_storage: typing.Callable = None
    crd_name: str = ""                # set for custom resources

    def __post_init__(self):
        self.singular = self.singular or self.kind.lower()
        self.storage = self.storage or f"{self.group}/{self.plural}"

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self):
        return self.kind + "List"

    @property
    def is_custom(self):
        return bool(self.crd_name)

    def table_columns(self):
        name = Column("Name", "string", lambda o: o["metadata"]["name"], "name", NAME_DESCRIPTION)
        if self.columns is None:
            return [name, _age_column()]
        return [name] + self.columns


def _get(obj, *path, default=None):
    for key in path:
        if not isinstance(obj, dict) or key not in obj:
            return default
        obj = obj[key]
    return obj


def _age_column():
    return Column("Age", "string", lambda o: humantime.age(o["metadata"].get("creationTimestamp")),
                  "", AGE_DESCRIPTION)


def _pod_ready(pod):
    statuses = _get(pod, "status", "containerStatuses", default=[])
    ready = sum(1 for s in statuses if s.get("ready"))
    return f"{ready}/{len(_get(pod, 'spec', 'containers', default=[]))}"


def _pod_status(pod):
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    return _get(pod, "status", "phase", default="Pending")


def _service_ports(svc):
    ports = _get(svc, "spec", "ports", default=[])
    return ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports) or "<none>"


def _deployment_ready(dep):
    ready = _get(dep, "status", "readyReplicas", default=0)
    return f"{ready}/{_get(dep, 'spec', 'replicas', default=1)}"


def _str_or_na(value):
    return "N/A" if value is None else str(value)


def _role_ref(binding):
    return "{}/{}".format(_get(binding, "roleRef", "kind", default=""),
                          _get(binding, "roleRef", "name", default=""))


def _core_event_to_events_v1(obj):
    """core/v1 Event (storage form) -> events.k8s.io/v1 Event, as the real conversion does."""
    renames = {"involvedObject": "regarding", "message": "note", "source": "deprecatedSource",
               "firstTimestamp": "deprecatedFirstTimestamp", "count": "deprecatedCount",
               "lastTimestamp": "deprecatedLastTimestamp",
               "reportingComponent": "reportingController"}
    out = {renames.get(k, k): v for k, v in obj.items()}
    out["apiVersion"] = "events.k8s.io/v1"
    return out


def _events_v1_to_core_event(obj):
    renames = {"regarding": "involvedObject", "note": "message", "deprecatedSource": "source",
               "deprecatedFirstTimestamp": "firstTimestamp", "deprecatedCount": "count",
               "deprecatedLastTimestamp": "lastTimestamp",
               "reportingController": "reportingComponent"}
    out = {renames.get(k, k): v for k, v in obj.items()}
    out["apiVersion"] = "v1"
    out.setdefault("involvedObject", {})
    return out


EVENT_FIELDS = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type")


def builtin_types():
    age = _age_column()
    return [
        ResourceType("", "v1", "namespaces", "Namespace", False, short_names=["ns"],
                     status_subresource=True, return_deleted_object=True,
                     field_labels=("status.phase",),
                     columns=[Column("Status", "string", lambda o: _get(o, "status", "phase")),
                              age]),
        ResourceType("", "v1", "pods", "Pod", True, short_names=["po"], categories=["all"],
                     status_subresource=True, return_deleted_object=True,
                     field_labels=("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
                                   "spec.serviceAccountName", "status.phase", "status.podIP",
                                   "status.nominatedNodeName"),
                     columns=[Column("Ready", "string", _pod_ready),
                              Column("Status", "string", _pod_status),
                              Column("Restarts", "string", lambda o: str(sum(
                                  s.get("restartCount", 0) for s in
                                  _get(o, "status", "containerStatuses", default=[])))), age]),
        ResourceType("", "v1", "configmaps", "ConfigMap", True, short_names=["cm"],
                     columns=[Column("Data", "integer", lambda o: len(o.get("data", {})) +
                                     len(o.get("binaryData", {}))), age]),
        ResourceType("", "v1", "secrets", "Secret", True, field_labels=("type",),
                     columns=[Column("Type", "string", lambda o: o.get("type", "Opaque")),
                              Column("Data", "integer", lambda o: len(o.get("data", {}))), age]),
        ResourceType("", "v1", "services", "Service", True, short_names=["svc"], categories=["all"],
                     status_subresource=True, return_deleted_object=True,
                     columns=[Column("Type", "string", lambda o: _get(o, "spec", "type")),
                              Column("Cluster-IP", "string",
                                     lambda o: _get(o, "spec", "clusterIP")),
                              Column("External-IP", "string", lambda o: "<none>"),
                              Column("Port(s)", "string", _service_ports), age]),
        ResourceType("", "v1", "events", "Event", True, short_names=["ev"],
                     storage="events", field_labels=EVENT_FIELDS,
                     columns=[Column("Type", "string", lambda o: o.get("type")),
                              Column("Reason", "string", lambda o: o.get("reason")),
                              Column("Object", "string", lambda o: "{}/{}".format(
                                  _get(o, "involvedObject", "kind", default="").lower(),
                                  _get(o, "involvedObject", "name", default=""))),
                              Column("Message", "string", lambda o: o.get("message")), age]),
        ResourceType("", "v1", "serviceaccounts", "ServiceAccount", True, short_names=["sa"],
                     columns=[age]),
        ResourceType("events.k8s.io", "v1", "events", "Event", True, short_names=["ev"],
                     storage="events", field_labels=EVENT_FIELDS,
                     to_storage=_events_v1_to_core_event, from_storage=_core_event_to_events_v1),
        ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True,
                     columns=[Column("Holder", "string",
                                     lambda o: _get(o, "spec", "holderIdentity", default="")),
                              age]),
        ResourceType("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
                     "MutatingWebhookConfiguration", False, categories=["api-extensions"],
                     has_generation=True,
                     columns=[Column("Webhooks", "integer", lambda o: len(o.get("webhooks") or [])),
                              age]),
        ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                     "CustomResourceDefinition", False, short_names=["crd", "crds"],
                     categories=["api-extensions"], status_subresource=True, has_generation=True,
                     return_deleted_object=True,
                     columns=[Column("Created At", "date", lambda o: o["metadata"].get(
                         "creationTimestamp"))]),
        ResourceType("apps", "v1", "deployments", "Deployment", True, short_names=["deploy"],
                     categories=["all"], status_subresource=True, has_generation=True,
                     columns=[Column("Ready", "string", _deployment_ready),
                              Column("Up-to-date", "integer",
                                     lambda o: _get(o, "status", "updatedReplicas", default=0)),
                              Column("Available", "integer",
                                     lambda o: _get(o, "status", "availableReplicas", default=0)),
                              age]),
        # Workloads the operator restarts (injection.restartWorkloads); no controller runs them.
        ResourceType("apps", "v1", "replicasets", "ReplicaSet", True, short_names=["rs"],
                     categories=["all"], status_subresource=True, has_generation=True,
                     columns=[age]),
        ResourceType("apps", "v1", "statefulsets", "StatefulSet", True, short_names=["sts"],
                     categories=["all"], status_subresource=True, has_generation=True,
                     columns=[age]),
        ResourceType("apps", "v1", "daemonsets", "DaemonSet", True, short_names=["ds"],
                     categories=["all"], status_subresource=True, has_generation=True,
                     columns=[age]),
        # What the agentproxy chart installs besides: a PodDisruptionBudget and RBAC objects.
        ResourceType("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True,
                     short_names=["pdb"], status_subresource=True, has_generation=True,
                     columns=[Column("Min Available", "string", lambda o: _str_or_na(
                                  _get(o, "spec", "minAvailable"))),
                              Column("Max Unavailable", "string", lambda o: _str_or_na(
                                  _get(o, "spec", "maxUnavailable"))),
                              Column("Allowed Disruptions", "integer", lambda o: _get(
                                  o, "status", "disruptionsAllowed", default=0)), age]),
        ResourceType("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False,
                     columns=[Column("Created At", "date", lambda o: o["metadata"].get(
                         "creationTimestamp"))]),
        ResourceType("rbac.authorization.k8s.io", "v1", "clusterrolebindings",
                     "ClusterRoleBinding", False,
                     columns=[Column("Role", "string", _role_ref), age]),
        ResourceType("rbac.authorization.k8s.io", "v1", "roles", "Role", True,
                     columns=[Column("Created At", "date", lambda o: o["metadata"].get(
                         "creationTimestamp"))]),
        ResourceType("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True,
                     columns=[Column("Role", "string", _role_ref), age]),
    ]


_cluster_ips = (f"10.96.{i // 250}.{i % 250 + 1}" for i in itertools.count(1))


def _default_container(container):
    image = container.get("image", "")
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    container.setdefault("imagePullPolicy",
                         "Always" if tag in ("", "latest") and "@" not in image else "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})


def _default_pod_spec(spec):
    for key, value in (("restartPolicy", "Always"), ("dnsPolicy", "ClusterFirst"),
                       ("schedulerName", "default-scheduler"), ("securityContext", {}),
                       ("terminationGracePeriodSeconds", 30), ("enableServiceLinks", True)):
        spec.setdefault(key, value)
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        _default_container(container)


def builtin_defaults(rtype, obj):
    """Defaults and initial status the real server sets on create, for the fields tests see."""
    kind = (rtype.group, rtype.kind)
    if kind == ("", "Pod"):
        spec = obj.setdefault("spec", {})
        _default_pod_spec(spec)
        spec.setdefault("serviceAccountName", "default")
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif kind == ("", "Namespace"):
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = \
            obj["metadata"]["name"]
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
    elif kind == ("", "Secret"):
        obj.setdefault("type", "Opaque")
    elif kind == ("", "Service"):
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec.get("clusterIP") != "None":
            spec["clusterIP"] = spec.get("clusterIP") or next(_cluster_ips)
        spec["clusterIPs"] = [spec["clusterIP"]]
        for port in spec.get("ports", []):
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
        obj["status"] = {"loadBalancer": {}}
    elif kind == ("apps", "Deployment"):
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault("strategy", {"type": "RollingUpdate",
                                     "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        _default_pod_spec(spec.setdefault("template", {}).setdefault("spec", {}))
        obj["status"] = {}


def builtin_validate(rtype, obj):
    """The few built-in validations tests rely on; returns (field, reason, body) causes."""
    causes = []
    kind = (rtype.group, rtype.kind)
    if kind == ("", "Pod"):
        containers = obj.get("spec", {}).get("containers")
        if not containers:
            causes.append(("spec.containers", "FieldValueRequired", "Required value"))
        for i, container in enumerate(containers or []):
            if not container.get("name"):
                causes.append((f"spec.containers[{i}].name", "FieldValueRequired",
                               "Required value"))
            if not container.get("image"):
                causes.append((f"spec.containers[{i}].image", "FieldValueRequired",
                               "Required value"))
    elif kind == ("apps", "Deployment"):
        if not obj.get("spec", {}).get("selector"):
            causes.append(("spec.selector", "FieldValueRequired", "Required value"))
    return causes
