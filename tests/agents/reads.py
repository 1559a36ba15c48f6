"""What each runtime reads, measured: one setting changed at a time, from the injection through
tinyproxy, with every agent.

- Proxy variables: the injection's proxy settings taken out, one variable put back.
- NO_PROXY forms as each runtime reads them: NO_PROXY, no_proxy and no_grpc_proxy set by hand
  to one form (the JVM: http.nonProxyHosts to it); then a few policy noProxy entries through the
  injection, as the operator writes them.
- CA variables: the injection's CA settings taken out, one put back, naming a file that holds
  the management plane's CA alone.

The JVM, which reads no environment variable, is asked where that is worth showing
(HTTPS_PROXY, https_proxy, GRPC_PROXY_EXP, SSL_CERT_FILE), not in every such row.

An outcome is "proxy" (the health check, or for `node-core` an HTTPS GET with Node's own https
module, went through the proxy: the only way to the management
plane), "direct" (the client went straight for the management plane's address and the network
said unreachable), "trusted" (CA cases: it worked) or "fails" (anything else: a TLS error, a
refused CONNECT). The page docs/runtimes.md holds the expected outcome of every cell, and the
test fails where an agent does otherwise.
"""

from dataclasses import dataclass, field

import injection
import netlab

PROXY_VARS = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "GRPC_PROXY",
              "grpc_proxy"]
NO_PROXY_VARS = ["NO_PROXY", "no_proxy", "no_grpc_proxy"]
CA_VARS = ["SSL_CERT_FILE", "SSL_CERT_DIR", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
           "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"]


@dataclass
class Read:
    group: str
    key: str                        # the row's name on the page
    # Either a policy change (noProxy entries, through the injection) or an env edit.
    no_proxy: list = field(default_factory=list)
    edit: object = None             # fn(env, ctx) -> env, applied after the injection
    by_ip: bool = False             # target the management plane's IP (server name mgmt.test)
    agents: tuple = ("cpp", "python", "go", "jvm", "node")
    base: str = "tinyproxy"         # the proxy mode whose policy is injected


def _java_options(env, keep):
    opts = [o for o in env.get("JAVA_TOOL_OPTIONS", "").split() if keep(o)]
    out = dict(env)
    if opts:
        out["JAVA_TOOL_OPTIONS"] = " ".join(opts)
    else:
        out.pop("JAVA_TOOL_OPTIONS", None)
    return out


def _without_proxy(env):
    out = {k: v for k, v in env.items() if k not in PROXY_VARS}
    return _java_options(out, lambda o: not o.startswith(("-Dhttps.proxy", "-Dhttp.proxy")))


def _only_proxy_var(name):
    def edit(env, ctx):
        out = _without_proxy(env)
        out[name] = ctx["proxy_url"]
        return out
    return edit


def _java_proxy_only(props):
    def edit(env, ctx):
        out = _without_proxy(env)
        host, port = netlab.PROXY_NAME, ctx["proxy_port"]
        extra = " ".join(p.format(host=host, port=port) for p in props)
        out["JAVA_TOOL_OPTIONS"] = (out.get("JAVA_TOOL_OPTIONS", "") + " " + extra).strip()
        return out
    return edit


def _grpc_proxy_exp(env, ctx):
    out = _without_proxy(env)
    out["GRPC_PROXY_EXP"] = f"{netlab.PROXY_NAME}:{ctx['proxy_port']}"
    return out


def _no_proxy_raw(value, java):
    """NO_PROXY, no_proxy and no_grpc_proxy set to `value`, and the JVM's http.nonProxyHosts to
    `java` (None: the JVM is not asked)."""
    def edit(env, ctx):
        out = {k: v for k, v in env.items() if k not in NO_PROXY_VARS}
        out.update({k: value for k in NO_PROXY_VARS})
        out = _java_options(out, lambda o: not o.startswith("-Dhttp.nonProxyHosts="))
        if java is not None:
            out["JAVA_TOOL_OPTIONS"] = (out.get("JAVA_TOOL_OPTIONS", "") +
                                        f" -Dhttp.nonProxyHosts={java}").strip()
        return out
    return edit


def _no_proxy_by_hand(values):
    def edit(env, ctx):
        out = {k: v for k, v in env.items() if k not in NO_PROXY_VARS}
        for k, v in values.items():
            out[k] = v
        return out
    return edit


def _without_ca(env):
    out = {k: v for k, v in env.items() if k not in CA_VARS}
    return _java_options(out, lambda o: not o.startswith("-Djavax.net.ssl.trustStore"))


def _only_ca(name, which="mgmt_ca_file"):
    def edit(env, ctx):
        out = _without_ca(env)
        out[name] = ctx[which]
        return out
    return edit


def _java_truststore_only(env, ctx):
    out = _without_ca(env)
    opts = [o for o in env.get("JAVA_TOOL_OPTIONS", "").split()
            if o.startswith("-Djavax.net.ssl.trustStore")]
    out["JAVA_TOOL_OPTIONS"] = (out.get("JAVA_TOOL_OPTIONS", "") + " " + " ".join(opts)).strip()
    return out


def _java_proxy_credentials(env, ctx):
    """What the kubelet makes of -Dhttps.proxyUser=$(AGENTPROXY_PROXY_USER)
    -Dhttps.proxyPassword=$(AGENTPROXY_PROXY_PASSWORD) in JAVA_TOOL_OPTIONS."""
    out = dict(env)
    out["JAVA_TOOL_OPTIONS"] = (env.get("JAVA_TOOL_OPTIONS", "") +
                                f" -Dhttps.proxyUser={env['AGENTPROXY_PROXY_USER']}"
                                f" -Dhttps.proxyPassword={env['AGENTPROXY_PROXY_PASSWORD']}")
    return out


def _java_truststore_without_attribute(env, ctx):
    """The truststore OpenSSL 3.0 writes for certificates alone (pkcs12 -export -nokeys): no
    trusted-key-usage attribute on its entry."""
    out = _without_ca(env)
    out["JAVA_TOOL_OPTIONS"] = (out.get("JAVA_TOOL_OPTIONS", "") +
                                f" -Djavax.net.ssl.trustStore={ctx['openssl_p12']}"
                                " -Djavax.net.ssl.trustStoreType=PKCS12").strip()
    return out


def _grpc_roots_replace_node_extra(env, ctx):
    out = _without_ca(env)
    out["GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"] = str(injection.SYSTEM_CA_FILE)
    out["NODE_EXTRA_CA_CERTS"] = ctx["mgmt_ca_file"]
    return out


def reads(mgmt_port):
    host_port = f"mgmt.test:{mgmt_port}"
    return [
        # --- proxy variables ---------------------------------------------------------------
        Read("proxy", "HTTPS_PROXY only", edit=_only_proxy_var("HTTPS_PROXY")),
        Read("proxy", "https_proxy only", edit=_only_proxy_var("https_proxy")),
        Read("proxy", "HTTP_PROXY only", edit=_only_proxy_var("HTTP_PROXY"), agents=("cpp", "python", "go", "node")),
        Read("proxy", "http_proxy only", edit=_only_proxy_var("http_proxy"), agents=("cpp", "python", "go", "node")),
        Read("proxy", "GRPC_PROXY only", edit=_only_proxy_var("GRPC_PROXY"), agents=("cpp", "python", "go", "node")),
        Read("proxy", "grpc_proxy only", edit=_only_proxy_var("grpc_proxy"), agents=("cpp", "python", "go", "node")),
        Read("proxy", "-Dhttps.proxyHost/Port only",
             edit=_java_proxy_only(["-Dhttps.proxyHost={host}", "-Dhttps.proxyPort={port}"])),
        Read("proxy", "-Dhttp.proxyHost/Port only",
             edit=_java_proxy_only(["-Dhttp.proxyHost={host}", "-Dhttp.proxyPort={port}"])),
        Read("proxy", "GRPC_PROXY_EXP only", edit=_grpc_proxy_exp),
        # Squid with Basic auth: the JVM gets no credentials from the injection; a Java agent
        # that installs an Authenticator (jvm-auth) can be given them as properties.
        Read("proxy", "Squid Basic auth, the injection", base="squid-auth",
             agents=("jvm", "jvm-auth")),
        Read("proxy", "Squid Basic auth, + -Dhttps.proxyUser/Password", base="squid-auth",
             edit=_java_proxy_credentials, agents=("jvm", "jvm-auth")),
        # --- NO_PROXY as each runtime reads it: set by hand (the JVM: http.nonProxyHosts) ----
        *[Read("no_proxy", form, edit=_no_proxy_raw(value, java), by_ip=by_ip,
               agents=("cpp", "python", "go", "jvm", "node") if java else
               ("cpp", "python", "go", "node"))
          for form, value, java, by_ip in (
              ("mgmt.test", "mgmt.test", "mgmt.test", False),
              (".test", ".test", ".test", False),
              ("test", "test", "test", False),
              ("*.test", "*.test", "*.test", False),
              ("*", "*", "*", False),
              ("mgmt.test:PORT", host_port, host_port, False),
              ("MGMT.TEST (upper case)", "MGMT.TEST", "MGMT.TEST", False),
              ("198.18.20.2 (IP target)", netlab.MGMT_ADDR, netlab.MGMT_ADDR, True),
              ("198.18.20.0/24 (IP target)", "198.18.20.0/24", "198.18.20.0/24", True),
              ("198.18.20.0/24 (name target)", "198.18.20.0/24", "198.18.20.0/24", False),
              # JAVA_TOOL_OPTIONS splits at spaces: the JVM cannot be given this one.
              ("'localhost, mgmt.test' (space)", "localhost, mgmt.test", None, False),
              ("'localhost,' (empty entry)", "localhost,", None, False))],
        Read("no_proxy", "NO_PROXY=mgmt.test only (upper-case name)",
             edit=_no_proxy_by_hand({"NO_PROXY": "mgmt.test"}),
             agents=("cpp", "python", "go", "node")),
        Read("no_proxy", "no_proxy=mgmt.test, no_grpc_proxy=other.test",
             edit=_no_proxy_by_hand({"NO_PROXY": "mgmt.test", "no_proxy": "mgmt.test",
                                     "no_grpc_proxy": "other.test"}),
             agents=("cpp", "python", "go", "node")),
        # --- NO_PROXY through the injection: a policy's noProxy as the operator writes it -------
        Read("no_proxy", "policy noProxy *.test", no_proxy=["*.test"]),
        Read("no_proxy", "policy noProxy .test", no_proxy=[".test"]),
        Read("no_proxy", "policy noProxy MGMT.TEST", no_proxy=["MGMT.TEST"]),
        Read("no_proxy", "policy noProxy 198.18.20.0/24 (IP target)", no_proxy=["198.18.20.0/24"],
             by_ip=True),
        # --- CA variables ----------------------------------------------------------------------
        Read("ca", "SSL_CERT_FILE only", edit=_only_ca("SSL_CERT_FILE")),
        Read("ca", "SSL_CERT_DIR only", edit=_only_ca("SSL_CERT_DIR", "mgmt_ca_dir"), agents=("cpp", "python", "go", "node")),
        Read("ca", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH only",
             edit=_only_ca("GRPC_DEFAULT_SSL_ROOTS_FILE_PATH"), agents=("cpp", "python", "go",
                                                                       "node")),
        Read("ca", "NODE_EXTRA_CA_CERTS only", edit=_only_ca("NODE_EXTRA_CA_CERTS"), agents=("cpp", "python", "go", "node")),
        Read("ca", "-Djavax.net.ssl.trustStore only", edit=_java_truststore_only),
        Read("ca", "-Djavax.net.ssl.trustStore, PKCS12 by openssl pkcs12 -nokeys",
             edit=_java_truststore_without_attribute, agents=("jvm",)),
        Read("ca", "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH=system + NODE_EXTRA_CA_CERTS=mgmt CA",
             edit=_grpc_roots_replace_node_extra, agents=("node",)),
        Read("ca", "none", edit=lambda env, ctx: _without_ca(env)),
        # --- Node's own https module (not gRPC) -------------------------------------------------
        Read("node", "Node https module, with the injection (NODE_USE_ENV_PROXY=1)",
             agents=("node-core",)),
        Read("node", "Node https module, https_proxy without NODE_USE_ENV_PROXY",
             edit=lambda env, ctx: {k: v for k, v in env.items() if k != "NODE_USE_ENV_PROXY"},
             agents=("node-core",)),
    ]


def classify(outcome, group):
    if outcome.works:
        return "trusted" if group == "ca" else "proxy"
    detail = outcome.detail.lower()
    # ENETUNREACH, as each runtime words it (the JVM: NoRouteToHostException).
    if any(w in detail for w in ("unreachable", "enetunreach", "noroutetohost")):
        return "direct"
    return "fails"
