#!/usr/bin/python3
"""The agents' runtime matrix: real gRPC clients of each runtime, started with exactly what the
injection gives a pod, behind the lab's real proxies, each outcome compared with the verdict the
operator predicts for that runtime.

    agent netns --(only route)--> proxy netns (tinyproxy, Squid x5, mitmproxy) --> mgmt netns

Per proxy mode, the policy's injection (injection.injected_pod: the one source of the env) is
turned into a container's env and files as the kubelet would (injection.container_start), and
each agent (cpp, python, go, jvm, node) runs in the agent namespace with exactly that env. The
predicted verdict per runtime comes from `agentproxy probe --runtime R --output json`, run in the
same namespace through the same proxy; while the probe has no per-runtime verdict, from the
runtime table of FIELD-NOTES (the printed matrix says which). Every cell must match; a negative
control per runtime (no injection) must fail; .NET does not run here and is printed as predicted
only. The measured column is compared with docs/runtimes.md.

Needs root (network namespaces, Squid), the agents built by build.sh (AGENTS_DIR), proxy_lab
(PROXY_LAB_BIN), agentproxy (AGENTPROXY_BIN) and the C++ agent (CPP_AGENT_BIN). Ends with
"N passed, N failed".
"""

import json
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import injection  # noqa: E402
import netlab  # noqa: E402
import reads  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DOC = REPO / "docs" / "runtimes.md"
# Generous: a JVM's first TLS handshake on a loaded 2-core machine takes seconds, and every
# failure here is fast (fail-fast RPCs), so only a hang would wait this long.
AGENT_TIMEOUT_MS = 20000
# The image's own variables of an agent container (what a Debian-based image sets).
BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": "/root", "LANG": "C.UTF-8"}

# Agents that run here, and the runtime of DESIGN.md each stands for.
AGENTS = [("cpp", "grpc-core"), ("python", "grpc-core"), ("go", "go"), ("jvm", "jvm"),
          ("node", "node")]
PREDICTED_ONLY = [("dotnet", "dotnet")]
RUNTIMES = ["grpc-core", "go", "jvm", "node", "dotnet"]


@dataclass
class ProxyMode:
    key: str
    title: str
    policy: injection.Policy
    probe_url: str            # the proxy URL the probe is given (with credentials)


# --- predictions from FIELD-NOTES' runtime table (until the probe gives per-runtime verdicts) --
def field_notes_prediction(mode_key, runtime):
    """(works, reason) as the runtime table of FIELD-NOTES.md reads, plus one fact it lacks
    (measured here): gRPC C-core 1.51 percent-decodes the proxy URL's authority before it
    splits it at '@', so credentials holding an '@' (%40) make it ignore the proxy."""
    if mode_key in ("squid-bump",):
        return False, "InterceptedWithoutHTTP2"
    if mode_key == "mitm-untrusted":
        return False, "InterceptorNotTrusted"
    if mode_key.startswith("squid-auth") and runtime == "jvm":
        return False, "ProxyCredentialsNeedCode"
    if mode_key == "squid-auth-reserved" and runtime == "grpc-core":
        return False, "ProxyCredentialsWithAtSign"
    if mode_key == "https-proxy" and runtime != "dotnet":
        return False, "HttpsProxyNotSupported"
    if mode_key == "none":
        return False, "NoInjection"
    return True, ""


# --- the lab ---------------------------------------------------------------------------------
def read_env_file(path):
    env = {}
    for line in Path(path).read_text().splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            env[key] = shlex.split(value)[0] if value else ""
    return env


def wait_ready(process, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([process.stdout], [], [], 0.5)
        if r:
            line = process.stdout.readline().decode().strip()
            if line == "ready":
                return
            if line == "" and process.poll() is not None:
                break
        elif process.poll() is not None:
            break
    raise RuntimeError(f"{what} did not start (exit {process.poll()})")


def port_of(url):
    return urllib.parse.urlsplit(url).port


def proxy_modes(proxies, mgmt_ca_pem, target):
    """The matrix's rows: every proxy of the lab as a ProxyPolicy would name it."""
    def pem(path):
        return Path(path).read_text()
    host = netlab.PROXY_NAME

    def policy(name, url, trust=(), credentials=None):
        return injection.Policy(name=name, https_proxy=url, credentials=credentials,
                                trust_pems=[mgmt_ca_pem, *trust], targets=[target])
    plain = (proxies["LAB_SQUID_AUTH_USER"], proxies["LAB_SQUID_AUTH_PASSWORD"])
    reserved = (proxies["LAB_SQUID_AUTH_USER2"], proxies["LAB_SQUID_AUTH_PASSWORD2"])
    auth_port = port_of(proxies["LAB_SQUID_AUTH"])
    def url(key, scheme="http"):
        return f"{scheme}://{host}:{port_of(proxies[key])}"

    rows = [
        ("tinyproxy", "tinyproxy 1.11, CONNECT", url("LAB_TINYPROXY"), (), None),
        ("squid", "Squid 5.7, CONNECT", url("LAB_SQUID"), (), None),
        ("squid-auth", "Squid 5.7, Basic auth", f"http://{host}:{auth_port}", (), plain),
        ("squid-auth-reserved", "Squid 5.7, Basic auth, password with @ : /",
         f"http://{host}:{auth_port}", (), reserved),
        ("squid-bump", "Squid 5.7 SSL bump, CA trusted", url("LAB_SQUID_BUMP"),
         (pem(proxies["LAB_SQUID_BUMP_CA"]),), None),
        ("squid-splice", "Squid 5.7 bump + splice mgmt.test", url("LAB_SQUID_SPLICE"),
         (pem(proxies["LAB_SQUID_SPLICE_CA"]),), None),
        ("mitm-trusted", "mitmproxy (h2), CA trusted", url("LAB_INTERCEPTOR"),
         (pem(proxies["LAB_INTERCEPTOR_CA"]),), None),
        ("mitm-untrusted", "mitmproxy (h2), CA not trusted", url("LAB_INTERCEPTOR"), (), None),
        # The https_port certificate is issued by the lab's target CA, which every policy trusts.
        ("https-proxy", "Squid 5.7 https_port (https:// URL)", url("LAB_SQUID_HTTPS", "https"),
         (), None),
    ]
    modes = []
    for key, title, proxy_url, trust, creds in rows:
        probe_url = proxy_url
        if creds:
            scheme, rest = proxy_url.split("://", 1)
            quoted = ":".join(urllib.parse.quote(c, safe="") for c in creds)
            probe_url = f"{scheme}://{quoted}@{rest}"
        modes.append(ProxyMode(key, title, policy(key, proxy_url, trust, creds), probe_url))
    return modes


# --- agents ----------------------------------------------------------------------------------
def agent_argv(agent, agents_dir, target, server_name=None):
    t = str(AGENT_TIMEOUT_MS)
    name = ["--server-name", server_name] if server_name else []
    argv = {
        "cpp": [os.environ.get("CPP_AGENT_BIN", str(agents_dir / "cpp-agent")), "--target",
                target, "--timeout-ms", t],
        "python": ["/usr/bin/python3", "-B", str(HERE / "python" / "agent.py"), "--target", target,
                   "--timeout-ms", t],
        "go": [str(agents_dir / "go-agent"), "--target", target, "--timeout", t + "ms"],
        # The app's own JVM flags (a small agent's): they change start-up cost, not networking.
        "jvm": ["java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-jar",
                str(agents_dir / "java-agent.jar"), "--target", target, "--timeout-ms", t],
        "node": ["node", str(agents_dir / "node" / "agent.js"), "--target", target,
                 "--timeout-ms", t],
        # The same agent with an Authenticator for https.proxyUser/https.proxyPassword.
        "jvm-auth": ["java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp",
                     str(agents_dir / "java-agent.jar"),
                     "io.agentproxy.agents.AuthenticatingHealthAgent", "--target", target,
                     "--timeout-ms", t],
        # Node's own https module (not gRPC): `target` is a URL.
        "node-core": ["node", str(HERE / "node" / "core_https.js"), "--url", target,
                      "--timeout-ms", t],
    }[agent]
    return argv + name


@dataclass
class Outcome:
    works: bool
    status: str
    detail: str


def run_agent(topo, agent, agents_dir, target, env, server_name=None):
    rc, out, err = topo.run(topo.agent, agent_argv(agent, agents_dir, target, server_name), env,
                            timeout=60)
    line = next((l for l in reversed(out.splitlines()) if l.startswith("{")), None)
    if line is None:
        return Outcome(False, "NO_ANSWER", f"exit {rc}: {(out + err).strip()[-300:]}")
    r = json.loads(line)
    if bool(r["ok"]) != (rc == 0):
        return Outcome(False, "BAD_EXIT", f"ok={r['ok']} but exit {rc}")
    return Outcome(bool(r["ok"]), r["status"], r["detail"])


# --- predictions from the probe ----------------------------------------------------------------
def probe(topo, agentproxy_bin, mode, target, target_ca, trust_file, no_proxy):
    """The probe's report through `mode`'s proxy from the agent namespace, with per-runtime
    verdicts (for the NO_PROXY the agents got) when the probe gives them."""
    base = [agentproxy_bin, "probe", "--proxy", mode.probe_url, "--target", target,
            "--target-ca", target_ca, "--trust-ca", str(trust_file), "--timeout", "10s",
            "--output", "json"]
    with_runtimes = base + [a for r in RUNTIMES for a in ("--runtime", r)] + \
        ["--no-proxy", no_proxy]
    rc, out, err = topo.run(topo.agent, with_runtimes, BASE_ENV, timeout=60)
    if rc == 64 and ("--runtime" in err or "--no-proxy" in err):
        rc, out, err = topo.run(topo.agent, base, BASE_ENV, timeout=60)
    try:
        return json.loads(out)
    except json.JSONDecodeError:
        raise RuntimeError(f"agentproxy probe through {mode.key}: exit {rc}: {err.strip()}")


def predictions_from(report, mode_key):
    """{runtime: (works, reason)}, and where they came from."""
    target = report["targets"][0]
    verdicts = target.get("runtimes")
    if verdicts:
        out = {v["runtime"]: (v["result"] != "Unsupported", v.get("reason", ""))
               for v in verdicts}
        missing = [r for r in RUNTIMES if r not in out]
        if missing:
            raise RuntimeError(f"the probe gave no verdict for {missing} through {mode_key}")
        return out, "agentproxy probe --runtime"
    return ({r: field_notes_prediction(mode_key, r) for r in RUNTIMES},
            "FIELD-NOTES runtime table (the probe gives no per-runtime verdict yet)")


def injection_source(agentproxy_bin):
    """'cli' when this agentproxy has the inject command, else 'contract'."""
    r = subprocess.run([agentproxy_bin, "inject", "--help"], capture_output=True, text=True)
    return "cli" if r.returncode == 0 and "--policy" in r.stdout else "contract"


# --- the page --------------------------------------------------------------------------------
def documented(table):
    """{(row, agent): word} from docs/runtimes.md's table between <!-- TABLE:begin --> and
    <!-- TABLE:end -->, {} without it. A row is named by its first cell's `code`; a cell by its
    first word."""
    if not DOC.exists():
        return {}
    text = DOC.read_text()
    m = re.search(rf"<!-- {table}:begin -->(.*?)<!-- {table}:end -->", text, re.S)
    if not m:
        return {}
    rows = [l for l in m.group(1).splitlines() if l.startswith("|")]
    header = [c.strip().strip("`") for c in rows[0].strip("|").split("|")]
    out = {}
    for row in rows[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        mode = re.search(r"`([^`]+)`", cells[0]).group(1)
        for agent, cell in zip(header[1:], cells[1:]):
            word = re.match(r"\**([a-z/-]+|—)", cell)
            if word:
                out[(mode, agent)] = word.group(1)
    return out


def markdown_table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# --- the test --------------------------------------------------------------------------------
def main():
    # A stop (CTest's timeout, ^C) still removes the namespaces: the finally below runs.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    failures, passed = [], 0

    def check(ok, what):
        nonlocal passed
        if ok:
            passed += 1
        else:
            failures.append(what)
            print("FAIL: " + what, flush=True)

    if os.geteuid() != 0:
        print("FAIL: the runtime matrix needs root (network namespaces, Squid)")
        print("0 passed, 1 failed")
        return 1
    agents_dir = Path(os.environ.get("AGENTS_DIR", REPO / "build" / "agents"))
    lab_bin = os.environ.get("PROXY_LAB_BIN", str(REPO / "build" / "bin" / "proxy_lab"))
    agentproxy_bin = os.environ.get("AGENTPROXY_BIN", str(REPO / "build" / "bin" / "agentproxy"))
    needed = [agents_dir / "go-agent", agents_dir / "java-agent.jar",
              agents_dir / "node" / "node_modules", Path(lab_bin), Path(agentproxy_bin),
              Path(os.environ.get("CPP_AGENT_BIN", agents_dir / "cpp-agent"))]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        print("FAIL: not built: " + ", ".join(missing) +
              " (scripts/build.sh, tests/agents/build.sh)")
        print("0 passed, 1 failed")
        return 1
    source = os.environ.get("AGENTS_INJECTION_SOURCE") or injection_source(agentproxy_bin)
    notes = {"cli": " (agentproxy inject: the webhook's own mutation)",
             "stored": " (pods stored by a real kube-apiserver, the operator's webhook and copies)",
             "contract": " (DESIGN.md by hand: this agentproxy has no 'inject')"}
    print(f"injection source: {source}{notes.get(source, '')}", flush=True)

    work = Path(tempfile.mkdtemp(prefix="agentproxy-agents-"))
    os.chmod(work, 0o755)
    topo = netlab.Topology()
    try:
        topo.up()
        ca_dir = work / "ca"
        mgmt_env, proxies_env = work / "mgmt.env", work / "proxies.env"
        mgmt = topo.start(topo.mgmt, [lab_bin, "--env-file", str(mgmt_env), "--parts", "mgmt",
                                      "--ca-dir", str(ca_dir), "--host-address", netlab.MGMT_ADDR,
                                      "--host-name", netlab.MGMT_NAME], work / "mgmt-lab.log")
        wait_ready(mgmt, "the management plane (proxy_lab --parts mgmt)")
        proxies_lab = topo.start(
            topo.proxy, [lab_bin, "--env-file", str(proxies_env), "--parts", "proxies",
                         "--ca-dir", str(ca_dir), "--host-address", netlab.PROXY_AGENT_SIDE,
                         "--host-name", netlab.PROXY_NAME, "--client-network",
                         netlab.AGENT_NETWORK, "--target-address", netlab.MGMT_ADDR],
            work / "proxies-lab.log")
        wait_ready(proxies_lab, "the proxies (proxy_lab --parts proxies)")
        lab_up = time.monotonic()
        m, p = read_env_file(mgmt_env), read_env_file(proxies_env)
        target = f"{netlab.MGMT_NAME}:{m['LAB_TARGET_PORT']}"
        target_ca = m["LAB_TARGET_CA"]
        print(f"lab: agent {topo.agent} -> proxy {topo.proxy} -> mgmt {topo.mgmt}; target "
              f"{target} ({netlab.MGMT_ADDR}); up in {lab_up - started:.1f}s", flush=True)

        # The wiring: the agent cannot reach the management plane but through a proxy.
        probe_tcp = ["/usr/bin/python3", "-c",
                     "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])),"
                     " timeout=3)", netlab.MGMT_ADDR, m["LAB_TARGET_PORT"]]
        rc_agent, _, err_agent = topo.run(topo.agent, probe_tcp, BASE_ENV, 10)
        rc_proxy, _, err_proxy = topo.run(topo.proxy, probe_tcp, BASE_ENV, 10)
        check(rc_agent != 0 and "unreachable" in err_agent,
              f"the agent namespace must not reach {netlab.MGMT_ADDR} directly "
              f"({err_agent[-120:]})")
        check(rc_proxy == 0,
              f"the proxy namespace must reach the management plane ({err_proxy[-120:]})")

        modes = proxy_modes(p, Path(target_ca).read_text(), target)
        rows = []  # (mode key, title, {runtime: prediction}, {agent: Outcome}, source, facts)
        # Everything is queued at once (the probes, every agent of every mode, the controls and
        # the reads below): on 2 cores, one run's wait (a JVM starting, a call that hangs until
        # its deadline) is another's turn.
        pool = ThreadPoolExecutor(max_workers=4)
        queued = []
        envs = {"none": BASE_ENV}  # each mode's env, for a second attempt
        # The injections themselves (keytool, or agentproxy inject) run side by side too.
        stored_f = {m.key: pool.submit(injection.injected_pod, m.policy, source, agentproxy_bin,
                                       work) for m in modes}
        for mode in modes:
            stored = stored_f[mode.key].result()
            start = injection.container_start(stored, work / "mounts" / mode.key, BASE_ENV)
            trust_file = start.mount_dir / injection.CA_BUNDLE_KEY
            report_f = pool.submit(probe, topo, agentproxy_bin, mode, target, target_ca,
                                   trust_file, start.env.get("NO_PROXY", ""))
            outcomes_f = {a: pool.submit(run_agent, topo, a, agents_dir, target, start.env)
                          for a, _ in AGENTS}
            queued.append((mode, report_f, outcomes_f))
            envs[mode.key] = start.env
        # Negative controls: the same agents with the image's env alone.
        none_outcomes = {a: pool.submit(run_agent, topo, a, agents_dir, target, BASE_ENV)
                         for a, _ in AGENTS}

        # What each runtime reads, one setting at a time (through tinyproxy).
        tiny = next(m for m in modes if m.key == "tinyproxy")
        by_key = {m.key: m for m in modes}
        mgmt_ca_dir = work / "mgmt-ca"
        mgmt_ca_dir.mkdir()
        (mgmt_ca_dir / "mgmt-ca.pem").write_text(Path(target_ca).read_text())
        # The PKCS12 OpenSSL 3.0 writes for a certificate alone (no JDK trust attribute).
        openssl_p12 = work / "openssl-truststore.p12"
        subprocess.run(["openssl", "pkcs12", "-export", "-nokeys", "-in",
                        str(mgmt_ca_dir / "mgmt-ca.pem"), "-out", str(openssl_p12), "-passout",
                        "pass:", "-certpbe", "NONE", "-nomac"], check=True, capture_output=True)
        ctx = {"proxy_url": tiny.policy.https_proxy, "proxy_port": port_of(tiny.policy.https_proxy),
               "mgmt_ca_file": str(mgmt_ca_dir / "mgmt-ca.pem"), "mgmt_ca_dir": str(mgmt_ca_dir),
               "openssl_p12": str(openssl_p12)}
        read_rows = []  # (Read, {agent: Outcome})
        read_runs = {}  # Read.key -> (env, target, url, server name), for a second attempt
        pending = []
        for i, r in enumerate(reads.reads(m["LAB_TARGET_PORT"])):
            base = by_key[r.base].policy
            policy = injection.Policy(name=f"reads{i}", https_proxy=base.https_proxy,
                                      credentials=base.credentials, trust_pems=base.trust_pems,
                                      no_proxy=r.no_proxy, targets=[target])
            stored = injection.injected_pod(policy, source, agentproxy_bin, work)
            env = injection.container_start(stored, work / "mounts" / f"reads{i}", BASE_ENV).env
            if r.edit:
                env = r.edit(env, ctx)
            t, name = (f"{netlab.MGMT_ADDR}:{m['LAB_TARGET_PORT']}", netlab.MGMT_NAME) \
                if r.by_ip else (target, None)
            # Node's https module asks the ingress (HTTP/1.1) for its WebSocket path.
            url = f"https://{netlab.MGMT_NAME}:{port_of('//' + m['LAB_INGRESS'])}/v1/ws"
            pending.append((r, {a: pool.submit(run_agent, topo, a, agents_dir,
                                               url if a == "node-core" else t, env, name)
                                for a in r.agents}))
            read_runs[r.key] = (env, t, url, name)
        for mode, report_f, outcomes_f in queued:
            report = report_f.result()
            predicted, psource = predictions_from(report, mode.key)
            t = report["targets"][0]
            facts = (f"tunnel {t.get('tunnel')}, intercepted {t.get('tlsIntercepted')}, "
                     f"alpn {t.get('alpn') or 'none'}, class {t.get('classification')}")
            rows.append((mode.key, mode.title, predicted,
                         {a: f.result() for a, f in outcomes_f.items()}, psource, facts))
        rows.append(("none", "no injection (negative control)",
                     {r: field_notes_prediction("none", r) for r in RUNTIMES},
                     {a: f.result() for a, f in none_outcomes.items()},
                     "a client without the injection goes direct", "no proxy"))
        for r, futures in pending:
            read_rows.append((r, {a: f.result() for a, f in futures.items()}))
        pool.shutdown()

        # A cell that disagrees is tried once more, alone: a real agent reconnects, and an
        # interceptor on a loaded machine now and then drops one connection (seen: mitmproxy,
        # "Socket closed", once in about ten runs). Both attempts are printed.
        def second_attempt(first, *run):
            again = run_agent(topo, *run)
            print(f"second attempt {run[0]}: {'works' if again.works else 'fails'} "
                  f"(first: {first.status}: {first.detail[:160]})", flush=True)
            return Outcome(again.works, again.status,
                           f"{again.detail} [second attempt; first: {first.status}: "
                           f"{first.detail[:120]}]")

        for key, title, predicted, outcomes, _, _ in rows:
            for agent, runtime in AGENTS:
                if outcomes[agent].works != predicted[runtime][0]:
                    outcomes[agent] = second_attempt(outcomes[agent], agent, agents_dir, target,
                                                     envs[key])
        doc_reads = documented("reads")
        for r, outcomes in read_rows:
            env, t, url, name = read_runs[r.key]
            for a, o in outcomes.items():
                documented_word = doc_reads.get((r.key, a))
                if documented_word not in (None, reads.classify(o, r.group)):
                    outcomes[a] = second_attempt(o, a, agents_dir,
                                                 url if a == "node-core" else t, env, name)

        # Every cell: measured == predicted.
        for key, title, predicted, outcomes, _, _ in rows:
            for agent, runtime in AGENTS:
                want, reason = predicted[runtime]
                got = outcomes[agent]
                check(got.works == want,
                      f"{key} / {agent}: predicted {'works' if want else 'fails'}"
                      f"{' (' + reason + ')' if reason else ''}, measured "
                      f"{'works' if got.works else 'fails'}: {got.status} {got.detail[:200]}")
        # The page says what was measured: the matrix and the reads.
        agents = [a for a, _ in AGENTS]
        read_agents = agents + ["jvm-auth", "node-core"]
        measured_matrix = {(key, a): "works" if outcomes[a].works else "fails"
                           for key, _, _, outcomes, _, _ in rows for a in agents}
        measured_reads = {(r.key, a): reads.classify(o, r.group)
                          for r, outcomes in read_rows for a, o in outcomes.items()}
        for table, measured in (("measured", measured_matrix), ("reads", measured_reads)):
            doc = documented(table)
            check(bool(doc), f"{DOC.relative_to(REPO)} has no {table} table "
                  f"(<!-- {table}:begin --> ... <!-- {table}:end -->)")
            if not doc:
                continue
            for (row, agent), word in measured.items():
                check(doc.get((row, agent)) == word,
                      f"docs/runtimes.md says {row} / {agent}: {doc.get((row, agent))}, "
                      f"measured {word}")

        print_matrix(rows)
        for key, title, predicted, outcomes, psource, facts in rows:
            print(f"\n{key}: {title}; probe: {facts}; predicted by {psource}")
            for agent, _ in AGENTS:
                o = outcomes[agent]
                word = "works" if o.works else "fails"
                print(f"  {agent:7s} {word}  {o.status}: {o.detail[:240]}")
        print("\nwhat each runtime reads (through tinyproxy; one setting at a time)")
        for r, outcomes in read_rows:
            print(f"  [{r.group}] {r.key}")
            for a, o in outcomes.items():
                print(f"    {a:7s} {reads.classify(o, r.group):8s} {o.status}: {o.detail[:160]}")
        if "--print-tables" in sys.argv:
            print("\n<!-- measured:begin -->")
            print(markdown_table(["proxy mode"] + [f"`{a}`" for a in agents],
                                 [[f"`{key}` {title}"] + [measured_matrix[(key, a)] for a in agents]
                                  for key, title, _, _, _, _ in rows]))
            print("<!-- measured:end -->\n\n<!-- reads:begin -->")
            print(markdown_table(["setting"] + [f"`{a}`" for a in read_agents],
                                 [[f"`{r.key}`"] + [measured_reads.get((r.key, a), "—")
                                                    for a in read_agents] for r, _ in read_rows]))
            print("<!-- reads:end -->")
    except Exception as e:  # noqa: BLE001 - reported as a failure with its reason
        check(False, f"{type(e).__name__}: {e}")
    finally:
        if source == "stored":
            injection.StoredSource.stop_shared()
        topo.down()
        left = topo.leftovers()
        check(not left, f"namespaces left behind: {left}")
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nwall time {time.monotonic() - started:.1f}s")
    print(f"matrix: {passed} passed, {len(failures)} failed")
    return 0 if not failures else 1


def print_matrix(rows):
    agents = [a for a, _ in AGENTS]
    head = ["proxy mode"] + agents + ["dotnet"]
    lines = []
    for key, _, predicted, outcomes, _, _ in rows:
        cells = [key]
        for agent, runtime in AGENTS:
            want = predicted[runtime][0]
            got = outcomes[agent].works
            mark = "" if want == got else " MISMATCH"
            cells.append(f"{'works' if want else 'fails'}/{'works' if got else 'fails'}{mark}")
        d = predicted["dotnet"][0]
        cells.append(f"{'works' if d else 'fails'}/not run")
        lines.append(cells)
    widths = [max(len(str(r[i])) for r in [head] + lines) for i in range(len(head))]
    print("\nruntime matrix (predicted/measured; .NET does not run on this machine: "
          "predicted only)")
    for r in [head] + lines:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


if __name__ == "__main__":
    sys.exit(main())
