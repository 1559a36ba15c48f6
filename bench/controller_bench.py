"""Controller benchmark (figures, not pass/fail): N ProxyPolicies (default 1000), each probing
one target through Squid on loopback, against the test API server.

1. Created at once while the operator runs: the time until every policy has a status.
2. The operator started with the policies already there: the same, for the operator alone
   (list, probe, write), since in (1) the test API server, written in Python, spends most of
   the time creating them.
Also the operator's peak RSS and the status writes per policy.

Run: bench/controller_bench.sh [N]"""
import concurrent.futures
import os
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "apiserver"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from harness import ApiServer  # noqa: E402
from operator_test import CRD, Operator, ProxyLab  # noqa: E402

count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
POLICIES = "/apis/agentproxy.io/v1alpha1/proxypolicies"


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def in_parallel(server, method, requests, **kwargs):
    # 16 at a time over HTTPS: kubectl would send them one by one.
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda r: server.ok(method, *r, **kwargs), requests))


def wait_all(server, start):
    while True:
        items = server.ok("GET", POLICIES)["items"]
        if sum(1 for p in items if p.get("status", {}).get("classification")) == count:
            return time.monotonic() - start
        if time.monotonic() - start > 300:
            sys.exit(f"not every one of {count} policies has a status after 300 s")
        time.sleep(0.1)


lab = ProxyLab()
server = ApiServer()
operators = []
try:
    server.kubectl("apply", "-f", CRD)
    names = [f"bench-{i:04d}" for i in range(count)]
    docs = [{"apiVersion": "agentproxy.io/v1alpha1", "kind": "ProxyPolicy",
             "metadata": {"name": name},
             "spec": {"proxy": {"httpsProxy": lab.env["LAB_SQUID"]},
                      "targets": [{"address": lab.env["LAB_TARGET"]}]}} for name in names]

    operator = Operator(server, "--workers", "8")
    operators.append(operator)
    time.sleep(1)  # its informers are up
    server.ok("DELETE", "/_test/requests")
    start = time.monotonic()
    in_parallel(server, "POST", [(POLICIES, d) for d in docs])
    created = time.monotonic() - start
    running = wait_all(server, start)
    counts = server.ok("GET", "/_test/requests")["counts"]
    writes = sum(n for k, n in counts.items() if k.startswith("PATCH ") and k.endswith("/status"))
    rss = peak_rss_mib(operator.process.pid)
    operator.stop()

    in_parallel(server, "PATCH", [(f"{POLICIES}/{name}/status", {"status": None}) for name in names],
                content_type="application/merge-patch+json")
    start = time.monotonic()
    operator = Operator(server, "--workers", "8")
    operators.append(operator)
    cold = wait_all(server, start)
    cold_rss = peak_rss_mib(operator.process.pid)
    operator.stop()

    print(f"{count} policies, one target each through Squid on loopback:")
    print(f"  created at once while the operator runs: created in {created:5.2f} s, "
          f"all have status after {running:5.2f} s (target <= 10 s)")
    print(f"  operator started with them in place:     all have status after {cold:5.2f} s")
    print(f"  operator peak RSS {rss:5.1f} MiB and {cold_rss:5.1f} MiB (target <= 50 MiB)")
    print(f"  status writes per policy {writes / count:4.2f}")
finally:
    for o in operators:
        o.stop()
    server.stop()
    lab.stop()
