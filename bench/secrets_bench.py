"""Secrets benchmark (figures, not pass/fail): the operator in a cluster full of large Secrets it
has no business reading (Helm release blobs), on a real control plane (scripts/cluster.sh:
kube-apiserver v1.36.3, etcd, kube-controller-manager), installed with helm and running as the
chart's ServiceAccount.

Before the operator starts: S Secrets of K KB each (default 2,000 of 500 KB: about 1 GB) and
P pods (default 20,000; stored, Pending: no kubelet) in N namespaces (default 1,000). Then the
operator starts, and the benchmark prints the time until its /readyz says ready (every informer
synced) and its peak RSS (VmHWM) once it has settled. The issue's goal: peak RSS at most
60 MiB. --compare BIN runs another build of the operator (say main's before the metadata-only
informers) the same way on the same cluster, for the figure before and after.

Run: bench/secrets_bench.sh [--secrets S] [--secret-kb K] [--namespaces N] [--pods P]
                            [--settle SECONDS] [--compare BIN]"""
import argparse
import os
import sys
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

import installation as installation_module  # noqa: E402
from cluster import Cluster  # noqa: E402
from installation import AGENTPROXY, Installation  # noqa: E402
from load import in_parallel, peak_rss_mib  # noqa: E402

parser = argparse.ArgumentParser(description="Secrets benchmark")
parser.add_argument("--secrets", type=int, default=2000)
parser.add_argument("--secret-kb", type=int, default=500)
parser.add_argument("--namespaces", type=int, default=1000)
parser.add_argument("--pods", type=int, default=20000)
parser.add_argument("--settle", type=float, default=10,
                    help="seconds to run after ready before reading the peak RSS")
parser.add_argument("--compare", default="",
                    help="another agentproxy binary to measure the same way afterwards")
args = parser.parse_args()


def ready(operator):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{operator.health_port}/readyz",
                                    timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def measure(installation, binary, label):
    installation_module.AGENTPROXY = binary  # what Operator runs
    started = time.monotonic()
    operator = installation.operator()
    try:
        while not ready(operator):
            if operator.process.poll() is not None:
                sys.exit(f"{label}: the operator exited ({operator.process.returncode}):\n"
                         + operator.log()[-3000:])
            if time.monotonic() - started > 600:
                sys.exit(f"{label}: not ready after 600 s:\n" + operator.log()[-3000:])
            time.sleep(0.1)
        to_ready = time.monotonic() - started
        time.sleep(args.settle)
        rss = peak_rss_mib(operator.process.pid)
    finally:
        operator.stop()
    print(f"{label}: ready after {to_ready:.1f} s, peak RSS {rss:.1f} MiB "
          f"(goal <= 60 MiB: {'met' if rss <= 60 else 'NOT met'})", flush=True)
    return to_ready, rss


def main():
    server = Cluster()
    try:
        t0 = time.monotonic()
        namespaces = [f"bench-{i:04d}" for i in range(args.namespaces)]
        in_parallel(server, [("POST", "/api/v1/namespaces",
                              {"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": ns}}) for ns in namespaces])
        blob = "x" * (args.secret_kb * 1024)
        in_parallel(server, [("POST", f"/api/v1/namespaces/{namespaces[i % len(namespaces)]}/secrets",
                              {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
                               "metadata": {"name": f"sh.helm.release.v1.app-{i}.v1",
                                            "labels": {"owner": "helm"}},
                               "stringData": {"release": blob}})
                             for i in range(args.secrets)], clients=4)
        pod = {"apiVersion": "v1", "kind": "Pod",
               "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0"}]}}
        in_parallel(server, [("POST", f"/api/v1/namespaces/{namespaces[i % len(namespaces)]}/pods",
                              dict(pod, metadata={"name": f"app-{i}", "labels": {"app": "app"}}))
                             for i in range(args.pods)])
        print(f"cluster: {args.namespaces} namespaces, {args.secrets} Secrets of "
              f"{args.secret_kb} KB ({args.secrets * args.secret_kb / 1024:.0f} MiB), "
              f"{args.pods} pods, created in {time.monotonic() - t0:.0f} s", flush=True)
        # Installed after the pods, so that their creation did not wait on a webhook nobody
        # serves yet.
        installation = Installation(server)
        results = [measure(installation, AGENTPROXY, "this build")]
        if args.compare:
            results.append(measure(installation, args.compare, f"--compare {args.compare}"))
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
