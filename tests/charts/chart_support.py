"""What the chart tests share: paths, running helm, and reading rendered YAML.

YAML is read with kubectl (`kubectl annotate --local -o json`), which converts it with the
same library helm and kubectl use to send it to a cluster, and needs no Python package
beyond the standard library.
"""
import json
import os
import re
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(ROOT, "charts", "agentproxy")
CRD_SOURCE = os.path.join(ROOT, "crds", "agentproxy.io_proxypolicies.yaml")
CRD_COPY = os.path.join(CHART, "files", "crds", "agentproxy.io_proxypolicies.yaml")
MANIFESTS = os.path.join(ROOT, "manifests", "agentproxy.yaml")
RENDER_SCRIPT = os.path.join(ROOT, "scripts", "render-manifests.sh")
TESTDATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata")
# A marker annotation that kubectl removes (it is never there); kubectl adds an empty
# annotations map to objects that had none, which load_yaml takes away again.
_NO_OP = "agentproxy.test/absent-"


def run(*args, check=True, cwd=ROOT, env=None, input_text=None):
    result = subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, timeout=120,
                            check=False, env=env, input=input_text)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def _offline_env():
    # Never a real cluster: kubectl --local reads no kubeconfig, but make sure of it.
    return dict(os.environ, KUBECONFIG=os.devnull)


def kubectl():
    """The kubectl of the control plane's build (scripts/cluster.sh bin), not whatever is on
    PATH: a user's kubectl must be within one minor version of the server."""
    return os.path.join(run(os.path.join(ROOT, "scripts", "cluster.sh"), "bin").stdout.strip(),
                        "kubectl")


def load_yaml(text):
    """The Kubernetes objects of a multi-document YAML text, as dicts, in order."""
    if not text.strip():
        return []
    result = run(kubectl(), "annotate", "--local", "-f", "-", "-o", "json", _NO_OP,
                 input_text=text, env=_offline_env())
    decoder = json.JSONDecoder()
    out, index, raw = [], 0, result.stdout
    while True:
        while index < len(raw) and raw[index].isspace():
            index += 1
        if index >= len(raw):
            break
        obj, index = decoder.raw_decode(raw, index)
        items = obj["items"] if obj.get("kind") == "List" and "items" in obj else [obj]
        for item in items:
            meta = item.get("metadata", {})
            if meta.get("annotations") == {}:
                del meta["annotations"]
            out.append(item)
    return out


def load_yaml_file(path):
    with open(path, encoding="utf-8") as handle:
        return load_yaml(handle.read())


def template(*values, namespace="agentproxy-system", release="agentproxy"):
    """`helm template` of the chart with --set VALUES; returns the objects."""
    sets = [arg for value in values for arg in ("--set", value)]
    out = run("helm", "template", release, CHART, "--namespace", namespace, *sets).stdout
    return load_yaml(out)


def by_kind(objects):
    """{(kind, name): object}."""
    return {(o["kind"], o["metadata"]["name"]): o for o in objects}


def cmake_project_version():
    with open(os.path.join(ROOT, "CMakeLists.txt"), encoding="utf-8") as handle:
        match = re.search(r"project\(\s*agentproxy\s+VERSION\s+([0-9.]+)", handle.read())
    return match.group(1)


def chart_metadata():
    """Chart.yaml's top-level scalar fields (a flat file: key: value)."""
    fields = {}
    with open(os.path.join(CHART, "Chart.yaml"), encoding="utf-8") as handle:
        for line in handle:
            match = re.match(r'^([A-Za-z]+):\s*"?([^"#]*?)"?\s*$', line)
            if match:
                fields[match.group(1)] = match.group(2)
    return fields
