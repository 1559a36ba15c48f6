"""The Dockerfile kept honest in seconds, before image_test builds and runs it: it refers only
to files that exist and that .dockerignore lets through, its build stage runs the README's
install script with everything that script needs, that script installs what CMake looks for,
the runtime stage installs a package for every shared library the binary loads (and nothing
else besides CA certificates) without their docs, the image runs `agentproxy run` as a
non-root user, and scripts/lib/image.sh runs it with the chart's securityContext.

The binary is the one CTest passes in AGENTPROXY_BIN (build/bin/agentproxy otherwise); package
facts come from this machine's dpkg, which is Debian 12 like the image.
"""
import fnmatch
import functools
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DOCKERFILE = os.path.join(ROOT, "Dockerfile")
DOCKERIGNORE = os.path.join(ROOT, ".dockerignore")
IMAGE_SCRIPT = os.path.join(ROOT, "scripts", "image.sh")
IMAGE_LIB = os.path.join(ROOT, "scripts", "lib", "image.sh")
SETUP = os.path.join(ROOT, "scripts", "setup.sh")
BINARY = os.environ.get("AGENTPROXY_BIN", os.path.join(ROOT, "build", "bin", "agentproxy"))

# find_package() names in module mode (no CONFIG file to look up), and what provides them.
MODULE_PACKAGES = {"OpenSSL": "libssl-dev", "PkgConfig": "pkgconf", "Threads": None}


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def instructions(text):
    """[(stage index, INSTRUCTION, arguments)] with continuations joined, comments dropped;
    ARGs before the first FROM are stage -1, and FROM's ${NAME} takes their defaults."""
    result, stage, pending, global_args = [], -1, "", {}
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        keyword = keyword.upper()
        args = args.strip()
        if keyword == "ARG" and stage == -1:
            name, _, default = args.partition("=")
            global_args[name] = default
        if keyword == "FROM":
            stage += 1
            args = re.sub(r"\$\{(\w+)\}|\$(\w+)",
                          lambda m: global_args[m.group(1) or m.group(2)], args)
        result.append((stage, keyword, args))
    return result


def dockerignore_excludes(path):
    """Whether .dockerignore keeps PATH (relative to the context) out of the build context:
    the last pattern matching it or one of its parent folders decides (! re-includes)."""
    patterns = [line.strip() for line in read(DOCKERIGNORE).splitlines()
                if line.strip() and not line.strip().startswith("#")]
    parts = path.strip("/").split("/")
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        for depth in range(1, len(parts) + 1):
            if fnmatch.fnmatchcase("/".join(parts[:depth]), pattern):
                excluded = not negate
                break
    return excluded


def copy_parts(args):
    """(flags, sources, destination) of a COPY/ADD in shell or exec (JSON) form."""
    flags = []
    words = shlex.split(args) if not args.lstrip().startswith("[") else None
    if words is None:
        flags_text, _, rest = args.partition("[")
        flags = flags_text.split()
        words = json.loads("[" + rest)
    else:
        while words and words[0].startswith("--"):
            flags.append(words.pop(0))
    return flags, words[:-1], words[-1]


def dpkg(*args):
    return subprocess.run(["dpkg-query", *args], capture_output=True, text=True, check=False)


def owners(paths):
    """{path: the package that installed it}, trying the /lib and /usr/lib spellings of each
    path (usrmerge: dpkg knows a file by the one its package used). One dpkg call."""
    spellings = {}
    for path in paths:
        candidates = {path, os.path.realpath(path)}
        for candidate in list(candidates):
            candidates.add(candidate[4:] if candidate.startswith("/usr/") else "/usr" + candidate)
        for candidate in candidates:
            spellings.setdefault(candidate, path)
    found = {}
    for line in dpkg("-S", *sorted(spellings)).stdout.splitlines():
        package, _, file = line.partition(": ")
        if file in spellings:
            found.setdefault(spellings[file], package.split(",")[0].split(":")[0].strip())
    return found


@functools.lru_cache(maxsize=None)
def owner_of_pattern(pattern):
    result = dpkg("-S", pattern)
    if result.returncode != 0:
        return None
    return result.stdout.splitlines()[0].split(":")[0].split(",")[0].strip()


class Packages:
    """dpkg's view of the installed packages, read once."""

    def __init__(self):
        fields = "${Package}\t${Status}\t${Priority}\t${Depends}, ${Pre-Depends}\t${Provides}\n"
        self.depends, self.priority, self.providers = {}, {}, {}
        for row in dpkg("-W", f"-f={fields}").stdout.splitlines():
            name, status, priority, depends, provides = row.split("\t")
            if "install ok installed" not in status:
                continue
            self.priority[name] = priority
            self.depends[name] = depends
            for virtual in provides.split(","):
                virtual = re.sub(r"[\s(].*", "", virtual.strip())
                if virtual:
                    self.providers.setdefault(virtual, name)

    def closure(self, packages):
        """The packages with everything they Depend/Pre-Depend on, as installed here."""
        seen, todo = set(), list(packages)
        while todo:
            name = todo.pop()
            if name in seen or name not in self.depends:
                continue
            seen.add(name)
            for clause in self.depends[name].split(","):
                options = [re.sub(r"[\s(].*", "", o.strip()).split(":")[0]
                           for o in clause.split("|")]
                for option in filter(None, options):
                    if option in self.depends:
                        todo.append(option)
                        break
                    if option in self.providers:
                        todo.append(self.providers[option])
                        break
        return seen

    def required_base(self):
        """debian:bookworm-slim's packages: Priority required and what they depend on."""
        return self.closure([p for p, prio in self.priority.items() if prio == "required"])


def bash_array(script, name):
    match = re.search(rf"^{name}=\((.*?)\)", script, re.S | re.M)
    return shlex.split(re.sub(r"#.*", "", match.group(1)))


class DockerfileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.steps = instructions(read(DOCKERFILE))
        cls.stages = [args for _, keyword, args in cls.steps if keyword == "FROM"]
        cls.names = {s.split(" AS ")[1]: i for i, s in enumerate(cls.stages) if " AS " in s}
        cls.final = len(cls.stages) - 1
        cls.prebuilt = cls.names.get("prebuilt")

    def stage_steps(self, stage, keyword=None):
        return [args for s, k, args in self.steps
                if s == stage and (keyword is None or k == keyword)]

    def chain(self, stage):
        """STAGE and the stages it is built FROM, base first."""
        parent = self.stages[stage].split(" AS ")[0]
        return (self.chain(self.names[parent]) if parent in self.names else []) + [stage]

    def image_steps(self, stage, keyword):
        """The instructions that make up STAGE's image, its parent stages' included."""
        return [a for s in self.chain(stage) for a in self.stage_steps(s, keyword)]

    def runtime_packages(self):
        runs = " ".join(self.image_steps(self.final, "RUN"))
        match = re.search(r"apt-get install ((?:\S+\s*)+?)(?:&&|$)", runs)
        self.assertIsNotNone(match, "the runtime stage installs no packages with apt-get")
        self.assertIn("--no-install-recommends", match.group(1))
        return [w for w in match.group(1).split() if not w.startswith("-")]

    def test_multi_stage_on_debian_12(self):
        """By default (docker build, no build arguments) the build stage is debian:bookworm
        and the image's base debian:bookworm-slim; the final and prebuilt stages share the
        runtime stage, so both images hold the same packages."""
        self.assertGreaterEqual(len(self.stages), 2)
        self.assertRegex(self.stages[0], r"^debian:bookworm AS build$")
        [base] = [self.stages[s] for s in self.chain(self.final)][:1]
        self.assertRegex(base, r"^debian:bookworm-slim( AS \w+)?$")
        self.assertIsNotNone(self.prebuilt, "no prebuilt stage (scripts/image.sh --runtime-only)")
        self.assertEqual(self.chain(self.prebuilt)[:-1], self.chain(self.final)[:-1])
        # scripts/image.sh passes its debootstrap base through these two arguments.
        script = read(IMAGE_SCRIPT)
        for name in re.findall(r"^FROM \$\{(\w+)\}", read(DOCKERFILE), re.M):
            self.assertIn(f"--build-arg \"{name}=", script)

    def test_every_copy_source_exists(self):
        """In the repository and let through by .dockerignore (the full build's context), or,
        for the prebuilt stage, the file scripts/image.sh --runtime-only puts in its context."""
        for stage, keyword, args in self.steps:
            if keyword not in ("COPY", "ADD"):
                continue
            flags, sources, _ = copy_parts(args)
            origin = [f.split("=", 1)[1] for f in flags if f.startswith("--from=")]
            if origin:
                self.assertIn(origin[0], self.names, f"{keyword} {args}: no such stage")
                continue
            for source in sources:
                self.assertFalse(re.match(r"^[a-z]+://", source), f"{keyword} {args}: a URL")
                if stage == self.prebuilt:
                    script = read(IMAGE_SCRIPT)
                    self.assertIn("--target prebuilt", script)
                    self.assertRegex(script, rf'-o "\$context/{re.escape(source)}"',
                                     f"{keyword} {args}: scripts/image.sh --runtime-only does "
                                     "not put that file in the build context")
                    continue
                matches = glob.glob(os.path.join(ROOT, source))
                self.assertTrue(matches, f"{keyword} {args}: {source} is not in the repository")
                self.assertFalse(dockerignore_excludes(source),
                                 f"{keyword} {args}: .dockerignore leaves {source} out")

    def test_dockerignore_keeps_the_rest_out(self):
        """The build tree, .git and the tests never reach the builder."""
        for path in ("build", "build/bin/agentproxy", ".git", "tests", "README.md"):
            self.assertTrue(dockerignore_excludes(path), f".dockerignore lets {path} in")

    def test_build_stage_runs_the_readme_install_script(self):
        runs = self.stage_steps(0, "RUN")
        self.assertIn("scripts/setup.sh --build-only", runs)
        # The README's quick-start commands install with the same script.
        for command in ("demo.sh", "test.sh"):
            self.assertIn(f"scripts/{command}", read(os.path.join(ROOT, "README.md")))
            self.assertIn("scripts/setup.sh", read(os.path.join(ROOT, "scripts", command)))

    def test_the_install_script_has_what_it_needs(self):
        """Runs the build stage's steps up to setup.sh in a folder holding only what was
        COPY'd by then; apt-get is a stub, so nothing is installed here."""
        work = tempfile.mkdtemp(prefix="dockerfile-setup-")
        try:
            workdir = work
            stub = os.path.join(work, ".stub-bin")
            os.makedirs(stub)
            with open(os.path.join(stub, "apt-get"), "w", encoding="utf-8") as handle:
                handle.write("#!/bin/sh\necho \"apt-get $*\" >>\"$(dirname \"$0\")/calls\"\n")
            os.chmod(os.path.join(stub, "apt-get"), 0o755)
            for stage, keyword, args in self.steps:
                if stage != 0:
                    continue
                if keyword == "WORKDIR":
                    workdir = os.path.join(work, args.lstrip("/"))
                    os.makedirs(workdir, exist_ok=True)
                elif keyword == "COPY":
                    _, sources, destination = copy_parts(args)
                    for source in sources:
                        target = os.path.join(workdir, destination)
                        os.makedirs(os.path.dirname(target.rstrip("/")) or workdir,
                                    exist_ok=True)
                        path = os.path.join(ROOT, source)
                        if os.path.isdir(path):
                            shutil.copytree(path, target, dirs_exist_ok=True)
                        else:
                            shutil.copy2(path, target)
                elif keyword == "RUN" and "setup.sh" in args:
                    env = dict(os.environ, PATH=f"{stub}:{os.environ['PATH']}")
                    result = subprocess.run(["bash", "-c", args], cwd=workdir, env=env,
                                            capture_output=True, text=True, timeout=120,
                                            check=False)
                    self.assertEqual(result.returncode, 0,
                                     f"RUN {args} in the build stage failed:\n{result.stderr}")
                    break
            else:
                self.fail("no RUN of scripts/setup.sh in the build stage")
        finally:
            shutil.rmtree(work)

    def test_the_build_stage_copies_what_cmake_builds(self):
        copied = set()
        for args in self.stage_steps(0, "COPY"):
            copied.update(s.rstrip("/") for s in copy_parts(args)[1])
        if "." in copied:
            return
        top = read(os.path.join(ROOT, "CMakeLists.txt"))
        outside_tests = top.split("if(AGENTPROXY_BUILD_TESTS)")[0]
        needed = {"CMakeLists.txt"} | set(re.findall(r"add_subdirectory\((\w+)\)", outside_tests))
        self.assertEqual(sorted(needed - copied), [], "the build stage does not COPY these")

    def test_setup_installs_what_cmake_finds(self):
        """Each find_package()/pkg_check_modules() of the operator's build resolves to a
        Debian package that `setup.sh --build-only` installs (or one it depends on)."""
        build_packages = bash_array(read(SETUP), "build_packages")
        have = Packages().closure(build_packages)
        cmake_files = [os.path.join(ROOT, "CMakeLists.txt")] + glob.glob(
            os.path.join(ROOT, "operator", "**", "CMakeLists.txt"), recursive=True)
        missing = []
        for path in cmake_files:
            text = read(path)
            if path == cmake_files[0]:
                text = text.split("if(AGENTPROXY_BUILD_TESTS)")[0]  # tests are off
            for name, rest in re.findall(r"find_package\(([\w-]+)([^)]*)\)", text):
                if "CONFIG" in rest.split():
                    package = (owner_of_pattern(f"*/{name}Config.cmake") or
                               owner_of_pattern(f"*/{name.lower()}-config.cmake"))
                else:
                    package = MODULE_PACKAGES.get(name, name)
                    if package is None:
                        continue
                self.assertIsNotNone(package, f"find_package({name}): no installed package "
                                     "provides its CMake config")
                if package not in have:
                    missing.append(f"{package} (find_package({name}) in "
                                   f"{os.path.relpath(path, ROOT)})")
            for module in re.findall(r"pkg_check_modules\(\w+ (?:REQUIRED )?([\w+.-]+)\)", text):
                package = owner_of_pattern(f"*/pkgconfig/{module}.pc")
                if package not in have:
                    missing.append(f"{package} (pkg_check_modules({module}))")
        self.assertEqual(missing, [], "scripts/setup.sh build_packages lacks these, so "
                         "`setup.sh --build-only` (the Dockerfile's build stage) cannot build")

    def test_runtime_stage_has_every_library_the_binary_loads(self):
        self.assertTrue(os.path.exists(BINARY), f"no binary at {BINARY}: build it first")
        ldd = subprocess.run(["ldd", BINARY], capture_output=True, text=True, check=True).stdout
        self.assertNotIn("not found", ldd)
        libraries = re.findall(r"=> (/\S+)", ldd) + re.findall(r"^\s*(/\S+) \(", ldd, re.M)
        self.assertTrue(libraries)
        runtime = self.runtime_packages()
        packages = Packages()
        from_stage = packages.closure(runtime)
        base = packages.required_base()
        owned = owners(libraries)
        for library in libraries:
            package = owned.get(library)
            self.assertIsNotNone(package, f"{library}: no Debian package owns it")
            self.assertTrue(package in from_stage or package in base,
                            f"{library} comes from {package}, which the runtime stage neither "
                            "installs nor gets from debian:bookworm-slim (Priority: required)")
        # Only runtime libraries: every package listed provides one of them (besides the CA
        # certificates), and none is a -dev package.
        needed = set(owned.values())
        for package in runtime:
            self.assertFalse(package.endswith("-dev"), package)
            if package != "ca-certificates":
                self.assertIn(package, needed, f"{package} is installed but the binary does not "
                              "load any of its libraries")
        self.assertIn("ca-certificates", runtime)
        runs = " ".join(self.image_steps(self.final, "RUN"))
        self.assertIn("rm -rf /var/lib/apt/lists/*", runs)
        # The packages' docs, man pages and translations stay out (their copyright files in).
        for path in ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*"):
            self.assertIn(f"'{path}'", runs.split("apt-get install")[0])
        self.assertIn("path-include /usr/share/doc/*/copyright", runs)

    def test_runs_agentproxy_run_as_non_root(self):
        users = self.image_steps(self.final, "USER")
        self.assertTrue(users, "the final stage sets no USER: it would run as root")
        user = users[-1].split(":")[0]
        self.assertNotIn(user, ("0", "root"))
        self.assertTrue(user.isdigit(), "a numeric UID lets runAsNonRoot verify it")
        # The chart runs the same UID.
        values = read(os.path.join(ROOT, "charts", "agentproxy", "values.yaml"))
        self.assertIn(f"runAsUser: {user}", values)

        for stage in (self.final, self.prebuilt):
            [entrypoint] = self.image_steps(stage, "ENTRYPOINT")
            self.assertEqual(json.loads(entrypoint), ["/usr/local/bin/agentproxy", "run"])
            copies = [copy_parts(a) for a in self.stage_steps(stage, "COPY")]
            self.assertIn("/usr/local/bin/agentproxy", [c[2] for c in copies])
        # The full build strips what it compiled; --runtime-only strips CMake's binary.
        self.assertIn("strip /build/bin/agentproxy", " ".join(self.stage_steps(0, "RUN")))
        self.assertRegex(read(IMAGE_SCRIPT), r"strip --strip-all -o ")


def bash_array_value(script, name):
    """The words of a bash array after sourcing SCRIPT."""
    result = subprocess.run(["bash", "-c", f'source "$1" && printf "%s\\0" "${{{name}[@]}}"',
                             "bash", script], capture_output=True, text=True, check=True)
    return result.stdout.split("\0")[:-1]


class ImageRunFlagsTest(unittest.TestCase):
    """scripts/lib/image.sh runs the image (tests/docker/image_test.py, the demo) as the chart
    runs its pod: these are its securityContext and its /tmp emptyDir as podman flags."""

    def test_security_flags_are_the_charts_security_context(self):
        values = read(os.path.join(ROOT, "charts", "agentproxy", "values.yaml"))
        block = re.search(r"^securityContext:\n((?:  .*\n)+)", values, re.M).group(1)
        context = {}
        for key, value in re.findall(r"^  (\w+): ?(.*)$", block, re.M):
            context[key] = value.strip()
        drop = re.search(r"drop: \[(.*)\]", block).group(1)
        flags = bash_array_value(IMAGE_LIB, "IMAGE_SECURITY_FLAGS")
        pairs = list(zip(flags, flags[1:] + [""]))
        self.assertIn(("--user", f"{context['runAsUser']}:{context['runAsUser']}"), pairs)
        self.assertEqual(context["readOnlyRootFilesystem"], "true")
        self.assertIn("--read-only", flags)
        # podman would otherwise mount tmpfs on /run and /var/tmp too, which no pod has.
        self.assertIn("--read-only-tmpfs=false", flags)
        self.assertEqual(context["allowPrivilegeEscalation"], "false")
        self.assertIn(("--security-opt", "no-new-privileges"), pairs)
        self.assertEqual(drop, "ALL")
        self.assertIn(("--cap-drop", "ALL"), pairs)
        # seccomp RuntimeDefault is podman's default profile: nothing may turn it off.
        self.assertNotIn("seccomp=unconfined", " ".join(flags))
        self.assertNotIn("--privileged", flags)

        deployment = read(os.path.join(ROOT, "charts", "agentproxy", "templates",
                                       "deployment.yaml"))
        self.assertRegex(deployment, r"- name: tmp\n\s+mountPath: /tmp")
        size = re.search(r"- name: tmp\n\s+emptyDir:\n\s+sizeLimit: (\d+)Mi", deployment)
        self.assertIsNotNone(size, "the chart's /tmp emptyDir has no sizeLimit in Mi")
        tmpfs = [b for a, b in pairs if a == "--tmpfs"]
        self.assertEqual(tmpfs, [f"/tmp:rw,size={size.group(1)}m,mode=1777"])


if __name__ == "__main__":
    unittest.main()
