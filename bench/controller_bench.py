"""Controller benchmark (figures, not pass/fail): N ProxyPolicies (default 1000), each probing
one target through Squid on loopback, on a real control plane (scripts/cluster.sh: kube-apiserver
v1.36.3, etcd, kube-controller-manager), the operator installed with helm and running as the
chart's ServiceAccount.

1. Created at once while the operator runs: the time until every policy has a status.
2. The operator started with the policies already there (their status cleared): the same, for
   the operator alone (list, probe, write).
Also the operator's peak RSS and the status writes per policy.

The figure is split so that it is honest about who spends the time: the API server creating
the objects, and the operator from then on; its list/watch sync, its probes, and the API
requests of each kind (from the API server's audit log: count and the server's time to answer,
request received to response complete); and the CPU time of each process, kube-apiserver and
etcd beside the operator (2 cores: when their sum nears twice the wall time, the run is
CPU-bound and the split says whose CPU it is).

Completion is observed through a watch, not by listing every policy over and over.

By default the policies name no CA for their target, so the probe finds the lab's certificate
untrusted and they end Unsupported (a failing gRPC handshake); --trusted names the target's CA
(one ConfigMap all policies share) and server name, so they end Supported.

--closed-proxy points the policies at a port nobody listens on, so the probes cost next to
nothing and the figure is the operator's own list/reconcile/API work and the API server's.
The policies inject into the namespaces labelled agentproxy.io/inject=enabled (none here);
--select-all-namespaces drops the selector, so every policy keeps a CA bundle copy in every
namespace.

Run: bench/controller_bench.sh [N] [--runs K] [--mode both|running|cold] [--trusted]
                               [--workers W] [--closed-proxy] [--select-all-namespaces]"""
import argparse
import collections
import os
import re
import sys
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))

from cluster import Cluster  # noqa: E402
from installation import NS, OPERATOR_USER, Installation  # noqa: E402
from lab import ProxyLab  # noqa: E402
from load import POLICIES, in_parallel, peak_rss_mib, policy_doc  # noqa: E402

parser = argparse.ArgumentParser(description="controller benchmark")
parser.add_argument("count", nargs="?", type=int, default=1000)
parser.add_argument("--runs", type=int, default=1, help="repeat each mode this many times")
parser.add_argument("--mode", choices=("both", "running", "cold"), default="both")
parser.add_argument("--workers", default="8", help="the operator's --workers (default 8)")
parser.add_argument("--closed-proxy", action="store_true",
                    help="policies name a proxy port nobody listens on: every probe fails at its "
                         "first connect, so what remains is the operator's list, reconcile and "
                         "API cost (and the API server's)")
parser.add_argument("--select-all-namespaces", action="store_true",
                    help="policies have no selector, so each injects into every namespace (a CA "
                         "bundle copy per policy and namespace); by default they select the "
                         "namespaces labelled agentproxy.io/inject=enabled, which the benchmark "
                         "has none of")
parser.add_argument("--trusted", action="store_true",
                    help="policies name the target's CA (one ConfigMap shared by all) and its "
                         "server name, so they end Supported; by default they name no CA and the "
                         "probe finds the lab's certificate untrusted (Unsupported)")
args = parser.parse_args()
count = args.count
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids, descendants=True, by_command=None):
    """User+system CPU of these processes and (live) descendants; by_command (a Counter), when
    given, also gets it per command name."""
    children = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                children[int(fields[1])].append(int(entry))
            except (OSError, IndexError):
                pass
    total, todo, seen = 0.0, list(pids), set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        if descendants:
            todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
                head, tail = handle.read().rsplit(")", 1)
            fields = tail.split()
            used = (int(fields[11]) + int(fields[12])) / TICKS
            total += used
            if by_command is not None:
                by_command[head.split("(", 1)[1]] += used
        except (OSError, IndexError):
            pass
    return total


class Cpu:
    """CPU seconds spent by each process group between start() and stop()."""

    def __init__(self, groups):
        self.groups = groups   # label -> (function returning the pids, with descendants)

    def _now(self, commands):
        return {k: cpu_seconds(f(), tree, commands if tree else None)
                for k, (f, tree) in self.groups.items()}

    def start(self):
        self.commands_before = collections.Counter()
        self.before = self._now(self.commands_before)

    def stop(self):
        """CPU seconds per group; self.commands: per command in the groups counted with their
        descendants (the proxy lab's Squids and servers)."""
        commands = collections.Counter()
        used = {k: v - self.before[k] for k, v in self._now(commands).items()}
        commands.subtract(self.commands_before)
        self.commands = {k: v for k, v in commands.items() if v >= 0.05}
        return used


class StatusWatch:
    """Watches the policies; records when each first has status.classification."""

    def __init__(self, server, names):
        self.server = server
        self.expected = set(names)
        self.done_at = {}
        self.classes = collections.Counter()
        self.odd = {}   # classification other than Supported -> one example
        self.all_done = threading.Event()
        self.rewatches = []   # why the watch had to be opened again (printed with the result)
        self.events = self._list_and_watch()
        threading.Thread(target=self._run, daemon=True).start()

    def _list_and_watch(self):
        listed = self.server.ok("GET", POLICIES)
        now = time.monotonic()
        for item in listed["items"]:
            self._see(item, now)
        rv = listed["metadata"]["resourceVersion"]
        return self.server.watch(f"{POLICIES}?watch=1&resourceVersion={rv}"
                                 "&allowWatchBookmarks=true", timeout=120)

    def _see(self, item, now):
        name = item["metadata"]["name"]
        if name in self.expected and name not in self.done_at and \
                (item.get("status") or {}).get("classification"):
            self.done_at[name] = now
            self.classes[item["status"]["classification"]] += 1
            if item["status"]["classification"] != "Supported":
                targets = item["status"].get("targets") or [{}]
                self.odd[item["status"]["classification"]] = \
                    f'{name}: {targets[0].get("grpc", "")} {targets[0].get("message", "")}'[:300]
            if len(self.done_at) == len(self.expected):
                self.all_done.set()

    def _run(self):
        # A watch that ends or breaks (the server under load, a 410 on a stale version) is
        # opened again from a fresh list, as an informer would, so no status is missed.
        while not self.all_done.is_set():
            try:
                for event in self.events:
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._see(event["object"], time.monotonic())
                    elif event["type"] == "ERROR":
                        raise RuntimeError(str(event.get("object"))[:120])
                    if self.all_done.is_set():
                        return
                self.rewatches.append("the stream ended")
            except Exception as e:  # noqa: BLE001 (any break of the stream means re-watch)
                self.rewatches.append(f"{type(e).__name__}: {e}"[:160])
            try:
                self.events = self._list_and_watch()
            except Exception as e:  # noqa: BLE001
                self.rewatches.append(f"re-list failed: {e}"[:160])
                time.sleep(1)

    def wait(self, start, limit=300, server=None, operator=None):
        if not self.all_done.wait(limit):
            detail = ""
            if server is not None:
                items = server.ok("GET", POLICIES)["items"]
                listed = sum(1 for p in items if (p.get("status") or {}).get("classification"))
                detail += f"; a list shows {listed} with a status"
                kinds = collections.Counter(
                    ((p.get("status") or {}).get("classification"),
                     str(((p.get("status") or {}).get("targets") or [{}])[0].get("grpc"))[:80])
                    for p in items)
                detail += "; statuses: " + "; ".join(f"{n} x {k}" for k, n in kinds.most_common(6))
            if operator is not None:
                detail += "; operator log ends:\n" + "\n".join(operator.log().splitlines()[-30:])
            sys.exit(f"only {len(self.done_at)} of {count} policies have a status after {limit} s"
                     f" as the watch saw them{detail}")
        return max(self.done_at.values()) - start


def operator_metrics(operator):
    with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics",
                                timeout=5) as response:
        text = response.read().decode()
    sums = collections.Counter()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = re.split(r"[{ ]", line, 1)[0]
            sums[name] += float(line.rsplit(" ", 1)[1])
    return sums


def wait_ready(operator, start):
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{operator.health_port}/readyz",
                                        timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except OSError:
            pass
        if time.monotonic() - start > 60:
            sys.exit("the operator's informers did not sync within 60 s")
        time.sleep(0.01)


def parse_time(text):
    """An audit timestamp (RFC 3339 with microseconds) as seconds since the epoch."""
    import datetime
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Requests:
    """The operator's API requests from `since` on (wall clock), from the audit log."""

    def __init__(self, server, since):
        self.kinds = collections.defaultdict(lambda: [0, 0.0])
        self.status_writes = 0
        for event in server.requests_by(OPERATOR_USER):
            received = parse_time(event["requestReceivedTimestamp"])
            if received < since:
                continue
            ref = event.get("objectRef") or {}
            resource = ref.get("resource", event["requestURI"].split("?")[0])
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            scope = "" if not ref.get("namespace") else (
                " (own namespace)" if ref["namespace"] == NS else " (namespaced)")
            kind = f"{event['verb']:6s} {resource}{scope}"
            self.kinds[kind][0] += 1
            if event["verb"] != "watch":
                self.kinds[kind][1] += parse_time(event["stageTimestamp"]) - received
            if event["verb"] in ("patch", "update") and resource == "proxypolicies/status":
                self.status_writes += 1


def report_requests(requests):
    print("    the operator's API requests (audit log: count, server ms each from request "
          "received to response complete; watches not timed):")
    for kind, (n, wall) in sorted(requests.kinds.items(), key=lambda kv: -kv[1][0]):
        print(f"      {n:6d}  {1000 * wall / n:7.2f}  {kind}")


def report_cpu(cpu, wall, commands=None):
    parts = ", ".join(f"{k} {v:5.2f}" for k, v in cpu.items())
    print(f"    CPU s: {parts} (sum {sum(cpu.values()):5.2f} in {wall:5.2f} s wall, 2 cores)")
    if commands:
        # Squid and the Python server each run on one core at most: under load they, not the
        # sum, can set the pace.
        print("      proxy lab by command: " + ", ".join(
            f"{k} {v:5.2f}" for k, v in sorted(commands.items(), key=lambda kv: -kv[1])))


def report_operator(metrics, synced, watch):
    probes = metrics["agentproxy_probe_duration_seconds_count"]
    probe_seconds = metrics["agentproxy_probe_duration_seconds_sum"]
    sync = f"informers synced after {synced:5.2f} s; " if synced is not None else ""
    classes = ", ".join(f"{n} {c}" for c, n in watch.classes.most_common())
    if probes:
        print(f"    operator: {sync}{probes:.0f} probes, {1000 * probe_seconds / probes:6.1f} ms "
              f"each on average (16 at once); classified {classes}")
    if watch.rewatches:
        print(f"    (the benchmark's own watch was opened again {len(watch.rewatches)} times: "
              f"{'; '.join(watch.rewatches[:3])})")
    if args.trusted:
        for classification, example in watch.odd.items():
            print(f"      e.g. {classification}: {example}")


def load_average():
    with open("/proc/loadavg", encoding="utf-8") as handle:
        return " ".join(handle.read().split()[:3])


def start_operator(installation):
    flags = [a for a in installation.deployment_args() if not a.startswith("--workers")]
    return installation.operator(args=flags + [f"--workers={args.workers}"])


def run_while_running(server, installation, docs, names, cpu, operators):
    """Mode 1: the policies are created at once while the operator runs."""
    operator = start_operator(installation)
    operators.append(operator)
    wait_ready(operator, time.monotonic())
    watch = StatusWatch(server, names)
    cpu.start()
    since = time.time()
    start = time.monotonic()
    created_at = in_parallel(server, [("POST", POLICIES, d) for d in docs])
    created = max(created_at) - start
    running = watch.wait(start, server=server, operator=operator)
    used = cpu.stop()
    lags = sorted(watch.done_at[n] - c for n, c in zip(names, created_at))
    requests = Requests(server, since)
    rss = peak_rss_mib(operator.process.pid)
    metrics = operator_metrics(operator)
    operator.stop()
    print(f"  created at once while the operator runs: all have status after {running:5.2f} s "
          f"(target <= 10 s; load average {load_average()})")
    print(f"    the API server took {created:5.2f} s to create them (16 clients); the "
          f"operator finished {running - created:5.2f} s after the last create")
    print(f"    create -> status per policy: median {lags[len(lags) // 2]:5.2f} s, "
          f"90% {lags[len(lags) * 9 // 10]:5.2f} s, max {lags[-1]:5.2f} s")
    report_operator(metrics, None, watch)
    report_cpu(used, running, cpu.commands)
    report_requests(requests)
    print(f"    operator peak RSS {rss:5.1f} MiB (target <= 50 MiB); status writes per policy "
          f"{requests.status_writes / len(names):4.2f}")
    return running, created


def run_cold(server, installation, names, cpu, operators):
    """Mode 2: the operator starts with the policies in place, their status cleared."""
    in_parallel(server, [("PATCH", f"{POLICIES}/{name}/status", {"status": None},
                          "application/merge-patch+json") for name in names])
    watch = StatusWatch(server, names)
    cpu.start()
    since = time.time()
    start = time.monotonic()
    operator = start_operator(installation)
    operators.append(operator)
    synced = wait_ready(operator, start)
    cold = watch.wait(start, server=server, operator=operator)
    used = cpu.stop()
    requests = Requests(server, since)
    rss = peak_rss_mib(operator.process.pid)
    metrics = operator_metrics(operator)
    operator.stop()
    print(f"  operator started with them in place: all have status after {cold:5.2f} s "
          f"(target <= 10 s; load average {load_average()})")
    report_operator(metrics, synced, watch)
    report_cpu(used, cold, cpu.commands)
    report_requests(requests)
    print(f"    operator peak RSS {rss:5.1f} MiB (target <= 50 MiB)")
    return cold


def main():
    lab = ProxyLab()
    started = time.monotonic()
    server = Cluster()
    print(f"control plane up in {time.monotonic() - started:4.1f} s")
    operators = []
    try:
        installation = Installation(server)
        trust = {}
        if args.trusted:
            server.kubectl("-n", "agentproxy-system", "create", "configmap", "mgmt-ca",
                           f"--from-file=ca.crt={lab.env['LAB_TARGET_CA']}")
            trust = {"server_name": lab.env["LAB_SERVER_NAME"],
                     "server_ca": ("agentproxy-system", "mgmt-ca", "ca.crt")}
        names = [f"bench-{i:04d}" for i in range(count)]
        proxy = lab.env["LAB_CLOSED"] if args.closed_proxy else lab.env["LAB_SQUID"]
        docs = [policy_doc(name, proxy, lab.env["LAB_TARGET"],
                           opt_in=not args.select_all_namespaces, **trust) for name in names]
        def pid(name):
            with open(os.path.join(server.dir, name + ".pid"), encoding="utf-8") as handle:
                return [int(handle.read())]
        cpu = Cpu({"kube-apiserver": (lambda: pid("apiserver"), False),
                   "etcd": (lambda: pid("etcd"), False),
                   "operator": (lambda: [o.process.pid for o in operators[-1:]], False),
                   "proxy lab": (lambda: [lab.process.pid], True),
                   "bench": (lambda: [os.getpid()], False)})
        what = "naming its CA (one ConfigMap)" if args.trusted else "naming no CA"
        through = "a closed port (no probe gets far)" if args.closed_proxy else "Squid on loopback"
        scope = "every namespace" if args.select_all_namespaces else "opted-in namespaces (none)"
        print(f"{count} policies, one target each through {through}, {what}, injecting into "
              f"{scope} (load average before: {load_average()}):")
        running, cold = [], []
        for run in range(args.runs):
            if args.mode != "cold" or run == 0:
                if run > 0:
                    server.ok("DELETE", POLICIES)   # the operator is stopped
                if args.mode == "cold":   # only to have them in place
                    in_parallel(server, [("POST", POLICIES, d) for d in docs])
                else:
                    running.append(run_while_running(server, installation, docs, names, cpu,
                                                     operators))
            if args.mode != "running":
                cold.append(run_cold(server, installation, names, cpu, operators))
        if running:
            print("  created while running, all statuses after: " + ", ".join(
                f"{total:5.2f} s ({total - created:5.2f} s after {created:5.2f} s of creates)"
                for total, created in running))
        if cold:
            print("  operator started with them in place:      " +
                  ", ".join(f"{t:5.2f} s" for t in cold))
    finally:
        for o in operators:
            o.stop()
        server.stop()
        lab.stop()


if __name__ == "__main__":
    main()
