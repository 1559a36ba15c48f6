"""Three network namespaces wired like an agent behind a corporate firewall.

    agent  198.18.10.2 --veth-- 198.18.10.1  proxy  198.18.20.1 --veth-- 198.18.20.2  mgmt

The agent's only route is its link to the proxy host; the proxy host does not forward, so only
the proxies reach the management plane, and a client that ignores the proxy gets "network is
unreachable". The addresses are from 198.18.0.0/15 (set aside for network tests) and exist only
inside these namespaces. Each namespace gets a hosts file (/etc/netns/NAME/hosts, which
`ip netns exec` mounts over /etc/hosts): mgmt.test and proxy.test resolve there, and a
resolv.conf naming 127.0.0.1, so no DNS query leaves a namespace.

Names are unique per run (they carry the test's PID); everything is removed by down(), and a
run that was killed is cleaned up by the next one (namespaces whose PID is gone).
"""

import ctypes
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

IP = shutil.which("ip") or "/usr/sbin/ip"
PREFIX = "apxlab"

AGENT_ADDR, PROXY_AGENT_SIDE = "198.18.10.2", "198.18.10.1"
PROXY_MGMT_SIDE, MGMT_ADDR = "198.18.20.1", "198.18.20.2"
AGENT_NETWORK = "198.18.10.0/24"
MGMT_NAME, PROXY_NAME = "mgmt.test", "proxy.test"

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """preexec_fn: the child gets SIGKILL when the test process dies, even by SIGKILL."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _ip(*args):
    r = subprocess.run([IP, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return False


def sweep_dead_runs():
    """Removes the namespaces and hosts files of earlier runs whose test process is gone."""
    for line in _ip("netns", "list").splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(PREFIX + r"(\d+)-(agent|proxy|mgmt)", name)
        if m and not _pid_alive(int(m.group(1))):
            subprocess.run([IP, "netns", "pids", name], capture_output=True)
            subprocess.run([IP, "netns", "del", name], capture_output=True)
            shutil.rmtree(f"/etc/netns/{name}", ignore_errors=True)
    for d in Path("/etc/netns").glob(PREFIX + "*") if Path("/etc/netns").is_dir() else []:
        m = re.fullmatch(PREFIX + r"(\d+)-\w+", d.name)
        if m and not _pid_alive(int(m.group(1))):
            shutil.rmtree(d, ignore_errors=True)


class Topology:
    def __init__(self):
        tag = f"{PREFIX}{os.getpid()}"
        self.agent, self.proxy, self.mgmt = f"{tag}-agent", f"{tag}-proxy", f"{tag}-mgmt"
        self.namespaces = [self.agent, self.proxy, self.mgmt]
        self.processes = []

    def up(self):
        sweep_dead_runs()
        hosts = {
            self.agent: f"127.0.0.1 localhost\n{MGMT_ADDR} {MGMT_NAME}\n"
                        f"{PROXY_AGENT_SIDE} {PROXY_NAME}\n",
            self.proxy: f"127.0.0.1 localhost\n{MGMT_ADDR} {MGMT_NAME}\n"
                        f"{PROXY_AGENT_SIDE} {PROXY_NAME}\n",
            self.mgmt: f"127.0.0.1 localhost\n{MGMT_ADDR} {MGMT_NAME}\n",
        }
        for ns in self.namespaces:
            _ip("netns", "add", ns)
            etc = Path("/etc/netns") / ns
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text(hosts[ns])
            (etc / "resolv.conf").write_text("nameserver 127.0.0.1\n")
            _ip("-n", ns, "link", "set", "lo", "up")
        # Each veth pair is made inside its two namespaces: the names never exist on the host.
        _ip("-n", self.agent, "link", "add", "to-proxy", "type", "veth", "peer", "name",
            "to-agent", "netns", self.proxy)
        _ip("-n", self.mgmt, "link", "add", "to-proxy", "type", "veth", "peer", "name",
            "to-mgmt", "netns", self.proxy)
        for ns, dev, addr in ((self.agent, "to-proxy", AGENT_ADDR + "/24"),
                              (self.proxy, "to-agent", PROXY_AGENT_SIDE + "/24"),
                              (self.proxy, "to-mgmt", PROXY_MGMT_SIDE + "/24"),
                              (self.mgmt, "to-proxy", MGMT_ADDR + "/24")):
            _ip("-n", ns, "addr", "add", addr, "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
        # The proxy host is no router (the default of a new namespace; said, not assumed).
        self.exec_check(self.proxy, ["sysctl", "-qw", "net.ipv4.ip_forward=0"])

    def exec_check(self, ns, argv):
        subprocess.run([IP, "netns", "exec", ns, *argv], check=True, capture_output=True)

    def start(self, ns, argv, log_path, env=None):
        """A long-running process in `ns`, stopped by PID in down()."""
        log = open(log_path, "ab")
        p = subprocess.Popen([IP, "netns", "exec", ns, *argv], stdout=subprocess.PIPE,
                             stderr=log, stdin=subprocess.DEVNULL, env=env,
                             preexec_fn=_die_with_parent)
        log.close()
        self.processes.append(p)
        return p

    def run(self, ns, argv, env, timeout):
        """Runs a program in `ns` with exactly `env`; returns (exit code, stdout, stderr)."""
        try:
            r = subprocess.run([IP, "netns", "exec", ns, *argv], env=env, capture_output=True,
                               text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                               preexec_fn=_die_with_parent)
            return r.returncode, r.stdout, r.stderr
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
            return None, out, err + f"\n(killed after {timeout}s)"

    def down(self):
        for p in self.processes:
            if p.poll() is None:
                p.terminate()
        deadline = time.monotonic() + 10
        for p in self.processes:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.processes.clear()
        for ns in self.namespaces:
            # Anything still in the namespace (nothing should be) goes first.
            pids = subprocess.run([IP, "netns", "pids", ns], capture_output=True, text=True)
            for pid in pids.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            subprocess.run([IP, "netns", "del", ns], capture_output=True)
            shutil.rmtree(Path("/etc/netns") / ns, ignore_errors=True)

    def leftovers(self):
        """What down() failed to remove (empty when all is gone)."""
        listed = _ip("netns", "list")
        return [ns for ns in self.namespaces
                if re.search(rf"^{re.escape(ns)}\b", listed, re.M) or
                Path(f"/etc/netns/{ns}").exists()]
