"""Timing half of bench/probe_bench.sh; reads the lab's addresses from LAB_* variables."""
import os
import statistics
import subprocess
import sys
import time

agentproxy, runs = sys.argv[1], int(sys.argv[2])
proxy, target, ca = os.environ["LAB_SQUID"], os.environ["LAB_TARGET"], os.environ["LAB_TARGET_CA"]


def timed(argv):
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, child.returncode


probe = [agentproxy, "probe", "--proxy", proxy, "--target", target, "--target-ca", ca]
curl = ["curl", "-s", "-o", "/dev/null", "--http2", "-x", proxy, "--cacert", ca,
        f"https://{target}/"]

for argv in (probe, curl):  # warm caches, and fail loudly if either does not work
    _, _, code = timed(argv)
    if code != 0:
        sys.exit(f"{argv[0]} failed with exit {code}: {' '.join(argv)}")

probe_times, curl_times = [], []
for _ in range(runs):
    probe_times.append(timed(probe)[0])
    curl_times.append(timed(curl)[0])
p, c = statistics.median(probe_times), statistics.median(curl_times)
print(f"probe of one target through Squid, {runs} runs alternating with curl:")
print(f"  agentproxy probe  median {p * 1000:7.1f} ms")
print(f"  curl --http2 -x   median {c * 1000:7.1f} ms")
print(f"  ratio {p / c:.2f} (target <= 1.3)")

many = [agentproxy, "probe", "--proxy", proxy, "--target-ca", ca, "--timeout", "30s",
        "--output", "json"]
for _ in range(200):
    many += ["--target", target]
wall, rss, code = timed(many)
print("one probe call with 200 targets through Squid:")
print(f"  wall {wall:.2f} s (target <= 3 s), peak RSS {rss:.1f} MiB (target <= 60 MiB), exit {code}")
