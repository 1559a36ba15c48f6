"""Controller benchmark (figures, not pass/fail): N ProxyPolicies created at once (default
1000), each probing one target through Squid on loopback. Prints the time until every policy
has a status, the operator's peak RSS, and status writes per policy.

Run: bench/controller_bench.sh [N]  (builds, then runs this with Debian's python3)."""
import concurrent.futures
import json
import os
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "apiserver"))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from harness import ApiServer  # noqa: E402
from operator_test import CRD, Operator, ProxyLab  # noqa: E402

count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


lab = ProxyLab()
server = ApiServer()
try:
    server.kubectl("apply", "-f", CRD)
    operator = Operator(server, "--workers", "8")
    docs = []
    for i in range(count):
        docs.append(json.dumps({
            "apiVersion": "agentproxy.io/v1alpha1", "kind": "ProxyPolicy",
            "metadata": {"name": f"bench-{i:04d}"},
            "spec": {"proxy": {"httpsProxy": lab.env["LAB_SQUID"]},
                     "targets": [{"address": lab.env["LAB_TARGET"]}]}}))
    time.sleep(1)  # the operator's informers are up
    server.ok("DELETE", "/_test/requests")
    start = time.monotonic()
    # Created in parallel over HTTPS: kubectl would create them one by one.
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda d: server.ok("POST", "/apis/agentproxy.io/v1alpha1/proxypolicies",
                                          json.loads(d)), docs))
    created = time.monotonic() - start
    while True:
        items = server.ok("GET", "/apis/agentproxy.io/v1alpha1/proxypolicies")["items"]
        done = sum(1 for p in items if p.get("status", {}).get("classification"))
        if done == count:
            break
        if time.monotonic() - start > 300:
            sys.exit(f"only {done} of {count} policies have a status after 300 s")
        time.sleep(0.1)
    elapsed = time.monotonic() - start
    counts = server.ok("GET", "/_test/requests")["counts"]
    writes = sum(n for k, n in counts.items() if k.startswith("PATCH ") and k.endswith("/status"))
    print(f"{count} policies created at once, one target each through Squid on loopback:")
    print(f"  created in      {created:6.2f} s")
    print(f"  all have status after      {elapsed:6.2f} s (target <= 10 s)")
    print(f"  operator peak RSS          {peak_rss_mib(operator.process.pid):6.1f} MiB "
          "(target <= 50 MiB)")
    print(f"  status writes per policy   {writes / count:6.2f}")
    operator.stop()
finally:
    server.stop()
    lab.stop()
