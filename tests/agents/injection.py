"""What an agent container is started with: the injected pod spec, and the kubelet's part.

The source of the env is one function, `injected_pod()`: it returns the pod as the API server
would store it after admission, with the objects it references (the Secret copy holding the
proxy credentials, the ConfigMap copy holding the CA bundle). Three sources fit behind it:
  - "contract": written here by hand to DESIGN.md "Injection" (the stand-in until the operator
    gives its own output without a cluster);
  - "cli": `agentproxy inject --policy FILE --pod FILE`, the operator's own mutation;
  - "stored": a pod stored by a real API server (scripts/cluster.sh, tests/support): the chart
    installed, `agentproxy run` as its ServiceAccount, the policy applied with its ConfigMaps
    and Secret, a pod created in a selected namespace; what the API server stored, and the
    operator's copies it refers to, are read back (StoredSource).
`container_start()` then does what the kubelet does with such a pod: secretKeyRef and
configMapKeyRef values resolved, $(VAR) expanded in order, the ConfigMap volume's files written
out. The mount path is a per-run directory, and every env value that names the mount path is
pointed at it (the agents run on the host's file system, in a network namespace).
"""

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

CA_MOUNT_PATH = "/etc/agentproxy/ca"
CA_BUNDLE_KEY = "ca-bundle.crt"
TRUSTSTORE_KEY = "ca-bundle.p12"
SYSTEM_CA_FILE = Path("/etc/ssl/certs/ca-certificates.crt")
SYSTEM_JAVA_CACERTS = Path("/etc/ssl/certs/java/cacerts")

# The cluster defaults of DESIGN.md's NO_PROXY (a kind-like cluster's service and pod CIDRs).
CLUSTER_NO_PROXY = ["localhost", "127.0.0.1", "169.254.169.254", ".svc", ".cluster.local",
                    "10.96.0.0/12", "10.244.0.0/16"]


@dataclass
class Policy:
    """The parts of a ProxyPolicy that decide what is injected."""
    name: str
    https_proxy: str                    # as in spec.proxy.httpsProxy, without credentials
    credentials: tuple | None = None    # (username, password), from the referenced Secret
    trust_pems: list = field(default_factory=list)  # PEM text of trust.caBundles
    include_system_cas: bool = True
    no_proxy: list = field(default_factory=list)    # spec.proxy.noProxy
    targets: list = field(default_factory=list)     # spec.targets[].address


@dataclass
class StoredPod:
    pod: dict                 # the pod after admission
    secrets: dict             # name -> {key: bytes}
    configmaps: dict          # name -> {key: bytes} (data and binaryData together)


@dataclass
class ContainerStart:
    env: dict                 # name -> value, as the container's process sees them
    mount_dir: Path           # where CA_MOUNT_PATH's files are


def agent_pod(name="agent"):
    """The pod a user creates: one container, no proxy settings of its own."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "agents", "labels": {"app": "agent"}},
            "spec": {"containers": [{"name": "agent", "image": "agent:1"}]}}


# --- the source of the env -------------------------------------------------------------------
def injected_pod(policy, source="contract", agentproxy_bin=None, workdir=None):
    """The stored pod and its referenced objects for `policy` (see the module comment)."""
    if source == "contract":
        return _contract_injection(policy, workdir)
    if source == "cli":
        return _cli_injection(policy, agentproxy_bin, workdir)
    if source == "stored":
        return StoredSource.shared().injected_pod(policy)
    raise ValueError(f"unknown injection source {source!r}")


def _host_port(url):
    parsed = urllib.parse.urlsplit(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return parsed.scheme, parsed.hostname, port


def normalize_no_proxy_entry(raw):
    """An entry in the form every runtime reads (DESIGN.md: without spaces): trimmed, lower
    case, '*.x' as '.x', '[ip]' as 'ip'."""
    e = raw.strip().lower()
    if e.startswith("[") and e.endswith("]"):
        e = e[1:-1]
    if e.startswith("*."):
        e = e[1:]
    return e


def _no_proxy_entries(policy):
    out = []
    for e in CLUSTER_NO_PROXY + list(policy.no_proxy):
        e = normalize_no_proxy_entry(e)
        if e and e not in out:
            out.append(e)
    return out


def java_non_proxy_hosts(entries):
    """http.nonProxyHosts from NO_PROXY entries: '|'-separated, '.x' becomes '*.x'; the JVM
    matches host names only, so CIDR entries are left out."""
    out = []
    for e in entries:
        if re.fullmatch(r"[0-9.]+/\d+|[0-9a-fA-F:]+/\d+", e):
            continue
        out.append("*" + e if e.startswith(".") else e)
    return "|".join(out)


def ca_bundle_pem(policy):
    parts = [SYSTEM_CA_FILE.read_text()] if policy.include_system_cas else []
    parts += [p if p.endswith("\n") else p + "\n" for p in policy.trust_pems]
    return "".join(parts)


_truststore_cache = {}
_truststore_lock = threading.Lock()
# Password-less PKCS12: no MAC, certificates in the clear, so the JVM loads it without
# javax.net.ssl.trustStorePassword.
_KEYTOOL = ["keytool", "-J-Dkeystore.pkcs12.certProtectionAlgorithm=NONE",
            "-J-Dkeystore.pkcs12.macAlgorithm=NONE"]


def _keytool(*args):
    subprocess.run([*_KEYTOOL, *args], check=True, capture_output=True)


def _cached(key, make):
    """make() once per key, even when threads ask at the same time."""
    with _truststore_lock:
        entry = _truststore_cache.setdefault(key, {"lock": threading.Lock(), "value": None})
    with entry["lock"]:
        if entry["value"] is None:
            entry["value"] = make()
        return entry["value"]


def pkcs12_truststore(policy, workdir):
    """A PKCS12 truststore of the same merged bundle, without a password: the system's Java CAs
    (when system CAs are included) plus the policy's, each a trusted certificate entry, as
    keytool writes them (with the JDK's trusted-key-usage attribute). Thread-safe; cached."""
    def system_store():
        d = Path(tempfile.mkdtemp(prefix="truststore-", dir=workdir))
        _keytool("-importkeystore", "-noprompt", "-srckeystore", str(SYSTEM_JAVA_CACERTS),
                 "-srcstorepass", "changeit", "-destkeystore", str(d / "system.p12"),
                 "-deststoretype", "PKCS12", "-deststorepass", "changeit")
        data = (d / "system.p12").read_bytes()
        shutil.rmtree(d)
        return data

    def store():
        d = Path(tempfile.mkdtemp(prefix="truststore-", dir=workdir))
        path = d / "ca-bundle.p12"
        if policy.include_system_cas:
            path.write_bytes(_cached(("system",), system_store))
        for i, pem in enumerate(policy.trust_pems):
            (d / f"ca{i}.pem").write_text(pem)
            _keytool("-importcert", "-noprompt", "-alias", f"policy-ca-{i}", "-file",
                     str(d / f"ca{i}.pem"), "-keystore", str(path), "-storetype", "PKCS12",
                     "-storepass", "changeit")
        data = path.read_bytes()
        shutil.rmtree(d)
        return data

    return _cached((policy.include_system_cas, tuple(policy.trust_pems)), store)


def _contract_injection(policy, workdir):
    """DESIGN.md "Injection", for every runtime (no spec.agentRuntimes)."""
    pod = agent_pod()
    container = pod["spec"]["containers"][0]
    env = []
    secrets, configmaps = {}, {}
    https = policy.https_proxy
    scheme, host, port = _host_port(https)
    if policy.credentials:
        secret = "agentproxy-proxy-" + policy.name
        user, password = policy.credentials
        # The operator's Secret copy holds them percent-encoded, so that $(VAR) expansion
        # pastes a valid URL.
        secrets[secret] = {"username": urllib.parse.quote(user, safe="").encode(),
                           "password": urllib.parse.quote(password, safe="").encode()}
        for var, key in (("AGENTPROXY_PROXY_USER", "username"),
                         ("AGENTPROXY_PROXY_PASSWORD", "password")):
            env.append({"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
        https = (f"{scheme}://$(AGENTPROXY_PROXY_USER):$(AGENTPROXY_PROXY_PASSWORD)@"
                 f"{host}:{port}")
    else:
        https = f"{scheme}://{host}:{port}"
    no_proxy = ",".join(_no_proxy_entries(policy))
    for name, value in (("HTTPS_PROXY", https), ("https_proxy", https), ("HTTP_PROXY", https),
                        ("http_proxy", https), ("NO_PROXY", no_proxy), ("no_proxy", no_proxy),
                        ("GRPC_PROXY", https), ("grpc_proxy", https),
                        ("no_grpc_proxy", no_proxy), ("NODE_USE_ENV_PROXY", "1")):
        env.append({"name": name, "value": value})
    bundle = f"{CA_MOUNT_PATH}/{CA_BUNDLE_KEY}"
    for name in ("SSL_CERT_FILE", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", "NODE_EXTRA_CA_CERTS",
                 "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        env.append({"name": name, "value": bundle})
    java = [f"-Dhttps.proxyHost={host}", f"-Dhttps.proxyPort={port}",
            f"-Dhttp.proxyHost={host}", f"-Dhttp.proxyPort={port}",
            f"-Dhttp.nonProxyHosts={java_non_proxy_hosts(_no_proxy_entries(policy))}",
            f"-Djavax.net.ssl.trustStore={CA_MOUNT_PATH}/{TRUSTSTORE_KEY}",
            "-Djavax.net.ssl.trustStoreType=PKCS12"]
    env.append({"name": "JAVA_TOOL_OPTIONS", "value": " ".join(java)})
    container["env"] = env
    cm = "agentproxy-ca-" + policy.name
    configmaps[cm] = {CA_BUNDLE_KEY: ca_bundle_pem(policy).encode(),
                      TRUSTSTORE_KEY: pkcs12_truststore(policy, workdir)}
    container["volumeMounts"] = [{"name": "agentproxy-ca", "mountPath": CA_MOUNT_PATH,
                                  "readOnly": True}]
    pod["spec"]["volumes"] = [{"name": "agentproxy-ca", "configMap": {"name": cm}}]
    pod["metadata"]["annotations"] = {"agentproxy.io/policy": policy.name}
    return StoredPod(pod, secrets, configmaps)


def _cli_injection(policy, agentproxy_bin, workdir):
    """`agentproxy inject`: the webhook's own mutation of the pod, with the CA ConfigMap's files
    and the Secret copy's keys as the operator writes them (its interface: cli/inject_command.h).
    """
    d = Path(tempfile.mkdtemp(prefix="inject-", dir=workdir))
    spec = {"proxy": {"httpsProxy": policy.https_proxy},
            "trust": {"includeSystemCAs": policy.include_system_cas, "caBundles": []},
            "targets": [{"address": t} for t in policy.targets],
            "selector": {"namespaceSelector": {"matchLabels": {"agentproxy.io/inject": "enabled"}}}}
    if policy.no_proxy:
        spec["proxy"]["noProxy"] = policy.no_proxy
    args = [agentproxy_bin, "inject", "--policy", str(d / "policy.json"), "--pod",
            str(d / "pod.json"), "--system-cas", str(SYSTEM_CA_FILE), "--ca-dir", str(d / "ca"),
            "--output", "pod"]
    for i, pem in enumerate(policy.trust_pems):
        (d / f"trust{i}.pem").write_text(pem)
        spec["trust"]["caBundles"].append(
            {"configMapRef": {"namespace": "agentproxy-system", "name": f"trust{i}",
                              "key": "ca.crt"}})
        args += ["--trust-ca", str(d / f"trust{i}.pem")]
    if policy.credentials:
        spec["proxy"]["credentialsSecretRef"] = {"namespace": "agentproxy-system",
                                                 "name": "proxy-auth"}
        user, password = policy.credentials
        (d / "secret.json").write_text(json.dumps(
            {"apiVersion": "v1", "kind": "Secret",
             "metadata": {"namespace": "agentproxy-system", "name": "proxy-auth"},
             "stringData": {"username": user, "password": password}}))
        args += ["--credentials", str(d / "secret.json"), "--secret-dir", str(d / "secret")]
    doc = {"apiVersion": "agentproxy.io/v1alpha1", "kind": "ProxyPolicy",
           "metadata": {"name": policy.name}, "spec": spec}
    (d / "policy.json").write_text(json.dumps(doc))
    (d / "pod.json").write_text(json.dumps(agent_pod()))
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"agentproxy inject for {policy.name}: exit {out.returncode}: "
                           f"{out.stderr.strip()}")
    pod = json.loads(out.stdout)
    # The objects the pod refers to, by the names it gives them.
    configmaps, secrets = {}, {}
    for vol in pod["spec"].get("volumes", []):
        if "configMap" in vol:
            files = sorted((d / "ca").iterdir()) if (d / "ca").is_dir() else []
            configmaps[vol["configMap"]["name"]] = {f.name: f.read_bytes() for f in files}
    for e in pod["spec"]["containers"][0].get("env", []):
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            secrets.setdefault(ref["name"], {})[ref["key"]] = \
                (d / "secret" / ref["key"]).read_bytes()
    shutil.rmtree(d)
    return StoredPod(pod, secrets, configmaps)


class StoredSource:
    """One real control plane with the operator installed, for every policy of a run."""
    _instance = None
    _lock = threading.Lock()

    @classmethod
    def shared(cls):
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    @classmethod
    def stop_shared(cls):
        with cls._lock:
            if cls._instance is not None:
                cls._instance.stop()
                cls._instance = None

    def __init__(self):
        import sys
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
        from cluster import Cluster  # noqa: E402
        from installation import Installation, ca_bundle  # noqa: E402
        self.cluster = Cluster()
        try:
            self.installation = Installation(self.cluster, "webhook.failurePolicy=Fail")
            self.operator = self.installation.operator()
            deadline = time.monotonic() + 60
            while not ca_bundle(self.cluster):
                if time.monotonic() > deadline:
                    raise RuntimeError("the operator never wrote the webhook's caBundle:\n" +
                                       self.operator.log()[-3000:])
                time.sleep(0.2)
        except BaseException:
            self.cluster.stop()
            raise

    def stop(self):
        self.operator.stop()
        self.cluster.stop()

    def _wait(self, what, get, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = get()
            if value:
                return value
            time.sleep(0.2)
        raise RuntimeError(f"{what} never appeared; operator log:\n" + self.operator.log()[-3000:])

    def injected_pod(self, policy):
        c, ns, sys_ns = self.cluster, "agents-" + policy.name, "agentproxy-system"
        spec = {"proxy": {"httpsProxy": policy.https_proxy},
                "trust": {"includeSystemCAs": policy.include_system_cas, "caBundles": []},
                "targets": [{"address": t} for t in policy.targets],
                "selector": {"namespaceSelector": {"matchLabels": {"agentproxy.io/inject":
                                                                   policy.name}},
                             "podSelector": {"matchLabels": {"app": "agent"}}}}
        if policy.no_proxy:
            spec["proxy"]["noProxy"] = policy.no_proxy
        objects = []
        for i, pem in enumerate(policy.trust_pems):
            name = f"{policy.name}-trust{i}"
            objects.append({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"namespace": sys_ns, "name": name},
                            "data": {"ca.crt": pem}})
            spec["trust"]["caBundles"].append(
                {"configMapRef": {"namespace": sys_ns, "name": name, "key": "ca.crt"}})
        if policy.credentials:
            user, password = policy.credentials
            objects.append({"apiVersion": "v1", "kind": "Secret",
                            "metadata": {"namespace": sys_ns, "name": policy.name + "-auth"},
                            "stringData": {"username": user, "password": password}})
            spec["proxy"]["credentialsSecretRef"] = {"namespace": sys_ns,
                                                     "name": policy.name + "-auth"}
        objects.append({"apiVersion": "agentproxy.io/v1alpha1", "kind": "ProxyPolicy",
                        "metadata": {"name": policy.name}, "spec": spec})
        c.apply({"apiVersion": "v1", "kind": "List", "items": objects})
        c.create_namespace(ns, {"agentproxy.io/inject": policy.name})
        copies = f"/api/v1/namespaces/{ns}/"
        # The webhook injects from its cache: the status' caBundleHash says the policy is in.
        self._wait(f"policy {policy.name}'s status", lambda: (
            c.get(f"/apis/agentproxy.io/v1alpha1/proxypolicies/{policy.name}") or {}).get(
                "status", {}).get("caBundleHash"))
        pod = agent_pod()
        pod["metadata"]["namespace"] = ns
        c.apply(pod)
        stored = c.get(copies + "pods/agent")
        configmaps, secrets = {}, {}
        for vol in stored["spec"].get("volumes", []):
            if "configMap" in vol:
                name = vol["configMap"]["name"]
                cm = self._wait(f"ConfigMap {ns}/{name}", lambda: c.get(copies + "configmaps/" + name))
                files = {k: v.encode() for k, v in cm.get("data", {}).items()}
                files.update({k: base64.b64decode(v) for k, v in cm.get("binaryData", {}).items()})
                configmaps[name] = files
        for e in stored["spec"]["containers"][0].get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref and ref["name"] not in secrets:
                secret = self._wait(f"Secret {ns}/{ref['name']}",
                                    lambda: c.get(copies + "secrets/" + ref["name"]))
                secrets[ref["name"]] = {k: base64.b64decode(v)
                                        for k, v in secret.get("data", {}).items()}
        return StoredPod(stored, secrets, configmaps)


# --- the kubelet's part ----------------------------------------------------------------------
_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(value, defined):
    """Kubernetes' $(VAR) expansion: a defined VAR is replaced, $$ is a literal $, anything
    else is left as written."""
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return defined[name] if name in defined else m.group(0)
    return _REF.sub(sub, value)


def container_start(stored, mount_root, base_env):
    """The env and files of the pod's first container, as the kubelet starts it."""
    container = stored.pod["spec"]["containers"][0]
    mount_dir = None
    volumes = {v["name"]: v for v in stored.pod["spec"].get("volumes", [])}
    for m in container.get("volumeMounts", []):
        vol = volumes[m["name"]]
        if "projected" in vol and m["mountPath"].startswith("/var/run/secrets/kubernetes.io/"):
            continue  # the ServiceAccount token a stored pod carries: the agents do not read it
        if "configMap" not in vol:
            raise ValueError(f"volume {m['name']}: only configMap volumes are handled here")
        data = stored.configmaps[vol["configMap"]["name"]]
        items = vol["configMap"].get("items") or [{"key": k, "path": k} for k in data]
        mount_dir = Path(mount_root) / m["mountPath"].strip("/").replace("/", "_")
        mount_dir.mkdir(parents=True, exist_ok=True)
        for item in items:
            (mount_dir / item["path"]).write_bytes(data[item["key"]])
        mount_path = m["mountPath"]
    defined = {}
    for e in container.get("env", []):
        if "valueFrom" in e:
            ref = e["valueFrom"]
            if "secretKeyRef" in ref:
                r = ref["secretKeyRef"]
                value = stored.secrets[r["name"]][r["key"]].decode()
            elif "configMapKeyRef" in ref:
                r = ref["configMapKeyRef"]
                value = stored.configmaps[r["name"]][r["key"]].decode()
            else:
                raise ValueError(f"env {e['name']}: unsupported valueFrom {ref}")
        else:
            value = expand(e.get("value", ""), defined)
        defined[e["name"]] = value
    if mount_dir is not None:
        defined = {k: v.replace(mount_path, str(mount_dir)) for k, v in defined.items()}
    # The image's own variables (PATH, HOME) come first; the container's env wins over them.
    return ContainerStart({**base_env, **defined}, mount_dir)

