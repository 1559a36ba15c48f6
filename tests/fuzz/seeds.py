#!/usr/bin/env python3
"""Writes the seed corpus of each fuzz target into tests/fuzz/corpus/<target>/ (seed-NN).

Run once when a target's input format changes; inputs that fuzzing found (crashes, then fixed)
go in the same directories under names of their own (crash-<what>) and are never overwritten.
The certificate and key are made with the openssl command-line tool.
"""
import base64
import json
import os
import pathlib
import subprocess
import tempfile

HERE = pathlib.Path(__file__).resolve().parent


def write(target, seeds):
    d = HERE / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob("seed-*"):
        old.unlink()
    for i, seed in enumerate(seeds):
        data = seed.encode("latin-1") if isinstance(seed, str) else seed
        (d / f"seed-{i:02d}").write_bytes(data)


def pem_material():
    with tempfile.TemporaryDirectory() as tmp:
        key, cert = os.path.join(tmp, "k"), os.path.join(tmp, "c")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "3650", "-subj", "/CN=fuzz seed CA/O=agentproxy"],
                       check=True, capture_output=True)
        return open(cert).read(), open(key).read()


CERT, KEY = pem_material()
b64 = lambda s: base64.b64encode(s.encode()).decode()

write("connect_response", [
    "HTTP/1.1 200 Connection established\r\n\r\n",
    "HTTP/1.0 200 Connection established\nProxy-agent: tinyproxy/1.11.1\n\n",
    "HTTP/1.1 403 Forbidden\r\nServer: squid/5.7\r\nMime-Version: 1.0\r\n"
    "X-Squid-Error: ERR_ACCESS_DENIED 0\r\nVia: 1.1 proxy (squid/5.7)\r\n\r\n",
    "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\n\r\n",
    "HTTP/1.1 401 Unauthorized\r\nServer: tinyproxy/1.11.1\r\n\r\n",
    "HTTP/1.1 502 Bad Gateway\r\nVia: 1.1 gw.corp (squid/6.6)\r\n\r\n",
    "HTTP/1.1 503 Service Unavailable\r\nServer: envoy\r\n\r\n",
    "HTTP/1.1 504 Gateway Timeout\r\nServer: nginx/1.22.1\r\n\r\n",
    "HTTP/1.1 403 Forbidden\r\nServer: BlueCoat-Security-Appliance\r\n\r\n",
    "HTTP/1.1 403 Acc\xe8s interdit\r\nServer: Proxy\xae 2000\r\n\r\n",
    "HTTP/1.1 403 Zugriff verweigert \xc3\xbc\r\nVia: 1.1 caf\xe9\r\n\r\n",
    "HTTP/1.1 403 \x1b[31mred\x07\r\nX-Squid-Error: ERR_\xff\xfe\r\n\r\n",
    "HTTP/1.1 200 OK\r\nServer: " + "x" * 2000 + "\r\n\r\n",
    "HTTP/1.1 abc Nope\r\n\r\n",
    "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
    "HTTP/1.1 200\r\n\r\n",
    "HTTP/1.1 99 Low\r\n\r\n",
    "HTTP/2 200\r\n\r\n",
    "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
    "SSH-2.0-OpenSSH_9.2\r\n\r\n",
    "",
    "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
    "HTTP/1.1 200 OK\r\n\tfolded: value\r\n\r\n",
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    "HTTP/1.1 200 OK\r\nServer: mitmproxy 8.1.1\r\nVia: 1.1 a, 1.1 b (HAProxy/2.6)\r\n\r\n",
    "HTTP/1.1 403 Forbidden\r\nServer: Apache/2.4.57 (Debian)\r\n\r\n",
])

write("proxy_url", [
    "http://proxy.corp.example:3128", "https://proxy.corp.example", "http://127.0.0.1:3128/",
    "http://agent:s3cret@127.0.0.1:3128", "http://agent2:p%40ss%3Aw0rd%2F1@127.0.0.1:3128",
    "http://[::1]:3128", "https://[2001:db8::1]", "http://user@proxy:8080", "http://:pass@proxy:1",
    "http://proxy:0", "http://proxy:65536", "http://proxy:65535", "socks5://proxy:1080",
    "proxy.corp:3128", "http://", "http://:3128", "HTTP://PROXY:3128", "http://proxy:3128/path",
    "http://proxy:3128?x=1", "http://a:b:c@proxy:1", "http://%zz@proxy:1", "http://[::1",
    "http://pr oxy:1", "mgmt.test:443", "[::1]:50051", "127.0.0.1:8443", "host:", ":443",
    "host:99999", "[fe80::1%eth0]:443", "http://proxy:3128#frag", "http://u:p@@proxy:1",
])

write("duration", [
    "10s", "500ms", "1m30s", "2h", "1.5s", "0s", "-1s", "", "10", "s", "1e9h",
    "9999999999999999999h", "1.2.3s", "10us", "1h1m1s1ms", "0.0001ms", ".5s", "5.s", "3d",
    "10 s", "1m-1s", "100000000000000000000000000000000ms", "1ns", "2562047h",
])

write("pem", [
    CERT, CERT + CERT, CERT + KEY, KEY, "", "not a pem at all",
    CERT.replace("\n", "\r\n"), CERT[: len(CERT) // 2],
    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\n" + "A" * 64 + "\n",
    "junk before\n" + CERT + "junk after\n",
    CERT.replace("CERTIFICATE", "TRUSTED CERTIFICATE"),
    "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n" + CERT,
    CERT.replace("M", "m", 1),
])

write("no_proxy", [
    "internal.corp.example", ".corp.example,10.0.0.0/8", "*", "host:8080,[::1]:443",
    "10.96.0.1,.svc,localhost", "", ",,,", "*.example.com", "fd00::/8,2001:db8::1",
    "a\nb\nc", "10.0.0.0/", "/8", "http://proxy:3128,https://proxy:3128", "::1", "1.2.3.4:",
    "very.long." * 50,
])

POLICY = {
    "apiVersion": "agentproxy.io/v1alpha1", "kind": "ProxyPolicy",
    "metadata": {"name": "corp-proxy", "uid": "uid-corp", "generation": 3,
                 "resourceVersion": "42"},
    "spec": {
        "proxy": {"httpsProxy": "http://proxy.corp.example:3128",
                  "noProxy": ["internal.corp.example"],
                  "credentialsSecretRef": {"namespace": "agentproxy-system", "name": "proxy-auth"}},
        "trust": {"caBundles": [{"configMapRef": {"name": "corp-ca", "key": "ca.crt"}}],
                  "includeSystemCAs": True},
        "targets": [{"address": "api.mgmt.example.com:443", "serverName": "api.mgmt.example.com",
                     "websocketPath": "/v1/ws"}],
        "selector": {"namespaceSelector": {"matchLabels": {"agentproxy.io/inject": "enabled"}},
                     "podSelector": {"matchExpressions": [
                         {"key": "app", "operator": "In", "values": ["agent"]}]}},
        "injection": {"enabled": True, "overrideExisting": False},
        "probe": {"interval": "5m", "timeout": "10s"},
    },
}


def variant(path, value):
    p = json.loads(json.dumps(POLICY))
    node = p
    for key in path[:-1]:
        node = node[key]
    if value is None:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return json.dumps(p)


write("proxy_policy", [
    json.dumps(POLICY),
    variant(["spec", "proxy", "httpsProxy"], "https://user:pw@[::1]:8443"),
    variant(["spec", "proxy", "httpsProxy"], "socks5://proxy:1080"),
    variant(["spec", "proxy", "httpsProxy"], None),
    variant(["spec", "targets"], []),
    variant(["spec", "targets"], [{"address": "no-port"}]),
    variant(["spec", "targets"], [{"address": 443}]),
    variant(["spec", "proxy", "noProxy"], ["10.0.0.0/8", "*", "host:443", 7]),
    variant(["spec", "probe"], {"interval": "0s", "timeout": "-1s"}),
    variant(["spec", "probe"], {"interval": "1h", "timeout": "99999999999999999999h"}),
    variant(["spec", "selector"], {"podSelector": {"matchExpressions": [
        {"key": "app", "operator": "Exists", "values": ["x"]}]}}),
    variant(["spec", "selector"], {"podSelector": {"matchExpressions": [
        {"key": "app", "operator": "Frobnicate"}]}}),
    variant(["spec", "trust"], {"caBundles": [{"secretRef": {"name": "s", "key": "k"}},
                                              {"inline": CERT}]}),
    variant(["spec", "trust"], {"caBundles": [{}]}),
    variant(["spec"], None),
    variant(["metadata"], None),
    variant(["metadata", "generation"], "three"),
    variant(["spec", "injection"], {"enabled": "yes"}),
    variant(["spec", "proxy", "credentialsSecretRef"], {"name": ""}),
    "[]", "null", "{}", '{"spec": {"proxy": {}}}', json.dumps(POLICY)[:200],
])

POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"generateName": "agent-7d9f-", "namespace": "workloads",
                 "labels": {"app": "agent", "tier": "edge"},
                 "annotations": {"kubectl.kubernetes.io/default-container": "agent"}},
    "spec": {
        "initContainers": [{"name": "wait-config", "image": "busybox:1.36"}],
        "containers": [
            {"name": "agent", "image": "registry.example/agent:2.4.1",
             "env": [{"name": "LOG_LEVEL", "value": "info"},
                     {"name": "HTTPS_PROXY", "value": "http://other:3128"},
                     {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
             "volumeMounts": [{"name": "config", "mountPath": "/etc/agent"}]},
            {"name": "log-shipper", "image": "registry.example/shipper:1.0"}],
        "volumes": [{"name": "config", "configMap": {"name": "agent-config"}}],
    },
}


def review(pod=POD, ns="workloads", operation="CREATE", uid="705ab4f5-6393-11e8-b7cc-42010a800002",
           kind="Pod", dry_run=False):
    return json.dumps({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": uid, "kind": {"group": "", "version": "v1", "kind": kind},
                    "resource": {"group": "", "version": "v1", "resource": "pods"},
                    "namespace": ns, "operation": operation, "object": pod,
                    "dryRun": dry_run}})


def pod_with(**changes):
    p = json.loads(json.dumps(POD))
    for key, value in changes.items():
        if key == "hostNetwork":
            p["spec"]["hostNetwork"] = value
        elif key == "labels":
            p["metadata"]["labels"] = value
        elif key == "annotations":
            p["metadata"]["annotations"] = value
        elif key == "containers":
            p["spec"]["containers"] = value
        elif key == "volumes":
            p["spec"]["volumes"] = value
    return p


write("admission", [
    review(), review(ns="missing"), review(ns="broken"), review(operation="UPDATE"),
    review(dry_run=True), review(uid=""), review(kind="Deployment"),
    review(pod=pod_with(hostNetwork=True)), review(pod=pod_with(labels={"app": "other"})),
    review(pod=pod_with(annotations={"agentproxy.io/inject": "false"})),
    review(pod=pod_with(containers=[])), review(pod=pod_with(containers=[{"name": "a", "env": 5}])),
    review(pod=pod_with(containers=[{"name": "a", "env": [{"name": "NO_PROXY"}, {"value": "x"}]}])),
    review(pod=pod_with(volumes=[{"name": "agentproxy-ca", "configMap": {"name": "x"}}])),
    review(pod=pod_with(containers=[{"name": "a", "volumeMounts": [
        {"name": "agentproxy-ca", "mountPath": "/etc/ssl/certs"}]}])),
    review(pod=[]), review(pod=None), review(ns=""),
    json.dumps({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"}),
    "not json", "", "{}", "[1,2,3]", review()[:150],
    json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": {"uid": 42}}),
])


def kubeconfig(server="https://127.0.0.1:6443/", user=None, extra_cluster="", context="dev"):
    user = user if user is not None else "    token: s3cr3t-token\n"
    return ("apiVersion: v1\nkind: Config\ncurrent-context: " + context + "\n"
            "clusters:\n- name: dev-cluster\n  cluster:\n    server: " + server + "\n"
            "    certificate-authority-data: " + b64(CERT) + "\n" + extra_cluster +
            "contexts:\n- name: dev\n  context:\n    cluster: dev-cluster\n    user: dev-user\n"
            "    namespace: team-a\n"
            "users:\n- name: dev-user\n  user:\n" + user)


write("kubeconfig", [
    kubeconfig(),
    kubeconfig(user="    client-certificate-data: " + b64(CERT) + "\n    client-key-data: " +
               b64(KEY) + "\n"),
    kubeconfig(user="    client-certificate: client.crt\n    client-key: client.key\n"),
    kubeconfig(user="    exec:\n      command: aws\n"),
    kubeconfig(user="    auth-provider:\n      name: gcp\n"),
    kubeconfig(user="    tokenFile: token\n"),
    kubeconfig(user="    username: admin\n    password: secret\n"),
    kubeconfig(server="http://127.0.0.1:8080"), kubeconfig(server="ftp://x"), kubeconfig(server=""),
    kubeconfig(context="nowhere"), kubeconfig(extra_cluster="    insecure-skip-tls-verify: true\n"),
    kubeconfig(extra_cluster="    certificate-authority: ca.crt\n"),
    kubeconfig().replace(b64(CERT), "!!!not base64!!!"),
    kubeconfig().replace(b64(CERT), b64("not a pem")),
    "", "apiVersion: v1\nkind: Config\n", "- a\n- b\n", "{}", "clusters: 5\n", "a: [\n",
    "apiVersion: v1\nkind: Config\ncurrent-context: x\ncontexts:\n- name: x\n  context: {}\n",
    "&a [*a]\n", "clusters:\n- name: c\n  cluster:\n    server: https://h\n" * 3,
])

write("watch_event", [
    '{"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"a","resourceVersion":"12"}}}\n',
    '{"type":"MODIFIED","object":{"metadata":{"resourceVersion":"13"}}}\r\n'
    '{"type":"DELETED","object":{"metadata":{"resourceVersion":"14"}}}\n',
    '{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"15"}}}\n',
    '{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired",'
    '"message":"too old resource version: 1 (2)"}}\n',
    '{"type":"ADDED"}\n', '{"type":"RENAMED","object":{}}\n', '{"object":{}}\n', "[]\n",
    "not json\n", "\n\n\n", '{"type":"ADDED","object":[]}\n',
    '{"type":"ADDED","object":{"metadata":{"resourceVersion":12}}}\n',
    '{"type":"ADDED","object":{"metadata":{"name":"\\u00fc\\ud800"}}}\n',
    '{"type":"ADDED","object":{"a":"\xff"}}\n', '{"type":"ADDED",', "partial line without end",
    '{"type": "ADDED", "object": {}, "extra": 1}\n',
    "\x05" + '{"type":"MODIFIED","object":{"metadata":{"resourceVersion":"9"}}}\n' * 3,
])
print("seed corpora written to", HERE / "corpus")
