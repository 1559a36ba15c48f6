"""Test API server benchmark (figures, not pass/fail): what the controller benchmark asks of
tests/apiserver/kube_apiserver.py, without the operator, so the two can be told apart.

N ProxyPolicies (default 1000) are created 16 at a time, listed, their status patched and one
Event each created, 16 at a time, over HTTPS with one kept-alive connection per client thread
(as client-go and the operator do). Prints the time and rate of each phase and the server
process' CPU time (steadier than the wall time on a shared machine).

Run: /usr/bin/python3 -B bench/apiserver_bench.py [N] [--profile FILE]
  --profile FILE: the server profiles every connection's thread (CPU time) and writes pstats
  to FILE when it stops; read it with: /usr/bin/python3 -m pstats FILE (sort tottime, stats 30)
"""
import argparse
import os
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "apiserver"))

from harness import ApiServer  # noqa: E402
from load import POLICIES, in_parallel, policy_doc  # noqa: E402

CRD = os.path.join(ROOT, "crds", "agentproxy.io_proxypolicies.yaml")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average():
    with open("/proc/loadavg", encoding="utf-8") as handle:
        return " ".join(handle.read().split()[:3])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("count", nargs="?", type=int, default=1000)
    parser.add_argument("--profile", metavar="FILE")
    args = parser.parse_args()
    count = args.count
    server = ApiServer(*(["--profile", os.path.abspath(args.profile)] if args.profile else []))
    try:
        server.kubectl("apply", "-f", CRD)
        names = [f"bench-{i:04d}" for i in range(count)]
        status = {"status": {"classification": "Supported", "observedGeneration": 1,
                             "conditions": [{"type": t, "status": "True", "reason": "Probed",
                                             "message": "x" * 80, "observedGeneration": 1,
                                             "lastTransitionTime": "2026-01-01T00:00:00Z"}
                                            for t in ("Ready", "SpecValid", "ProxyReachable",
                                                      "TLSIntercepted", "GRPCSupported")]}}
        phases = [
            ("create", lambda: in_parallel(server, [
                ("POST", POLICIES, policy_doc(n, "http://127.0.0.1:3128", "127.0.0.1:443"))
                for n in names])),
            ("list", lambda: server.ok("GET", POLICIES)),
            ("patch status", lambda: in_parallel(server, [
                ("PATCH", f"{POLICIES}/{n}/status", status, "application/merge-patch+json")
                for n in names])),
            ("create event", lambda: in_parallel(server, [
                ("POST", "/api/v1/namespaces/default/events", {
                    "metadata": {"name": f"{n}.1"}, "involvedObject": {
                        "apiVersion": "agentproxy.io/v1alpha1", "kind": "ProxyPolicy",
                        "name": n}, "reason": "Supported", "message": "Classification changed",
                    "type": "Normal", "source": {"component": "agentproxy"}, "count": 1})
                for n in names])),
        ]
        print(f"test API server, {count} ProxyPolicies, 16 clients (load average "
              f"{load_average()}):")
        for label, run in phases:
            start, cpu = time.monotonic(), cpu_seconds(server.info["pid"])
            run()
            took = time.monotonic() - start
            used = cpu_seconds(server.info["pid"]) - cpu
            rate = f"{count / took:7.0f}/s" if label != "list" else " " * 9
            print(f"  {label:13s} {took:6.2f} s {rate}  server CPU {used:5.2f} s")
    finally:
        server.stop()
        if args.profile:
            print(f"  profile written to {args.profile}")


if __name__ == "__main__":
    main()
