"""The image, run: the agentproxy image that image_build (scripts/image.sh) built, run by
podman as the chart runs its pod (uid 65532, a read-only root filesystem, no capabilities, no
new privileges, seccomp, a 16 MiB tmpfs on /tmp), on the host network so that it reaches the
proxy lab on 127.0.0.1.

Real parts: the image (Debian 12 with the runtime packages and the binary), podman and runc,
and the lab's Squid 5.7 and TLS gRPC server (build/bin/proxy_lab).
"""
import ctypes
import json
import os
import signal
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IMAGE_LIB = os.path.join(ROOT, "scripts", "lib", "image.sh")
IMAGE = os.environ.get("AGENTPROXY_IMAGE", "agentproxy:dev")
VERSION = os.environ.get("AGENTPROXY_VERSION")
PROXY_LAB = os.environ.get("PROXY_LAB_BIN", os.path.join(ROOT, "build", "bin", "proxy_lab"))


def image_lib_array(name):
    """A bash array of scripts/lib/image.sh: the flags the demo runs the image with too."""
    result = subprocess.run(["bash", "-c", f'source "$1" && printf "%s\\0" "${{{name}[@]}}"',
                             "bash", IMAGE_LIB], capture_output=True, text=True, check=True)
    return result.stdout.split("\0")[:-1]


PODMAN = image_lib_array("IMAGE_PODMAN")
RUN_FLAGS = image_lib_array("IMAGE_RUN_FLAGS") + image_lib_array("IMAGE_SECURITY_FLAGS")


def die_with_parent():
    """preexec_fn: the child gets SIGKILL if this test process dies, pass, fail or crash."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def podman_run(*args, mounts=(), timeout=60):
    """`podman run --rm` of the image's agentproxy with ARGS, FILES mounted read-only at the
    same paths. A CompletedProcess."""
    volumes = [f"--volume={path}:{path}:ro" for path in mounts]
    return subprocess.run(
        [*PODMAN, "run", "--rm", *RUN_FLAGS, *volumes,
         "--entrypoint", "/usr/local/bin/agentproxy", IMAGE, *args],
        capture_output=True, text=True, timeout=timeout, check=False)


class ProxyLab:
    """build/bin/proxy_lab: its LAB_* addresses as a dict; stopped by PID."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="agentproxy-image-lab-")
        env_file = os.path.join(self.dir, "lab.env")
        self.process = subprocess.Popen([PROXY_LAB, "--env-file", env_file],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, preexec_fn=die_with_parent)
        if self.process.stdout.readline().strip() != "ready":
            self.process.kill()
            raise RuntimeError("proxy lab did not start: " + self.process.stderr.read())
        self.env = {}
        with open(env_file, encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.rstrip("\n").partition("=")
                self.env[key] = value.strip("'")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()


class ImageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lab = ProxyLab()

    @classmethod
    def tearDownClass(cls):
        cls.lab.stop()

    def test_image_is_what_the_chart_expects(self):
        """The chart runs the image's entrypoint with its own flags as uid 65532."""
        inspect = subprocess.run([*PODMAN, "image", "inspect", IMAGE], capture_output=True,
                                 text=True, check=True)
        config = json.loads(inspect.stdout)[0]["Config"]
        self.assertEqual(config["Entrypoint"], ["/usr/local/bin/agentproxy", "run"])
        self.assertEqual(config["User"], "65532:65532")

    def test_version(self):
        result = podman_run("version")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout, f"agentproxy {VERSION}\n")

    def probe(self, proxy, *extra):
        lab = self.lab.env
        return podman_run("probe", "--proxy", lab[proxy], "--target", lab["LAB_TARGET"],
                          "--server-name", lab["LAB_SERVER_NAME"],
                          "--target-ca", lab["LAB_TARGET_CA"], "--timeout", "10s", *extra,
                          mounts=[lab["LAB_TARGET_CA"]] + [a for a in extra if a.startswith("/")])

    def test_probe_through_squid_is_supported(self):
        result = self.probe("LAB_SQUID", "--output", "json")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        report = json.loads(result.stdout)
        self.assertEqual(report["classification"], "Supported")
        [target] = report["targets"]
        self.assertEqual(target["tunnel"], "Established")
        self.assertEqual(target["grpc"], "OK")
        print(f"\nprobe through Squid from the image: {report['classification']}, "
              f"tunnel {target['tunnel']}, grpc {target['grpc']}")

    def test_probe_through_squid_ssl_bump_is_unsupported(self):
        """Squid's SSL bump answers without HTTP/2: the image reports it with the remedy."""
        result = self.probe("LAB_SQUID_BUMP", "--trust-ca", self.lab.env["LAB_SQUID_BUMP_CA"])
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertRegex(result.stdout.splitlines()[0], r": Unsupported$")
        self.assertIn("ssl_bump splice", result.stdout)


if __name__ == "__main__":
    unittest.main()
