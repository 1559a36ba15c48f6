#!/usr/bin/env bash
# Builds the Go, Java and Node health-check agents into OUT (default: build/agents) and checks
# the Python one's grpcio, installing what is missing (Debian packages as root). The C++ agent
# is a CMake target (cpp_agent) of the project's own build.
#
#   tests/agents/build.sh [OUT]
#
# Cached: each agent is rebuilt only when its sources, lock file or toolchain changed (a stamp
# beside the output holds their hash), so a warm run builds nothing. A cold run fetches the
# pinned modules from the registries (Go module proxy, Maven Central, npm) into their usual
# caches (Go's module and build caches, ~/.m2, node_modules under OUT/node) and prints progress.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../build/agents}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# Go, Maven and npm keep their caches under HOME; a CI shell may come without it.
: "${HOME:=$(getent passwd "$(id -u)" | cut -d: -f6)}"
export HOME

say() { echo "agents: $*"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# --- packages ------------------------------------------------------------------------------
packages=(iproute2 python3-grpcio maven)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    say "missing packages: ${missing[*]}; run as root (or install them) first" >&2
    exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for tool in go java mvn node npm; do
  command -v "$tool" >/dev/null || { say "$tool is not installed (this machine kind has it)" >&2; exit 1; }
done

# The hash of the named files (relative to $1) and of a toolchain's version line.
stamp_of() {
  local dir=$1 version=$2
  shift 2
  (cd "$dir" && sha256sum "$@" && echo "$version") | sha256sum | cut -d' ' -f1
}
up_to_date() { [[ -e $1 && -f $1.stamp && $(cat "$1.stamp") == "$2" ]]; }

total=$(now)

# --- grpc-go -------------------------------------------------------------------------------
start=$(now)
stamp=$(stamp_of "$here/go" "$(go version)" go.mod go.sum main.go)
if up_to_date "$out/go-agent" "$stamp"; then
  say "go-agent up to date"
else
  say "go-agent: building with grpc-go (modules the cache lacks come from the Go module proxy)"
  (cd "$here/go" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly \
    go build -v -o "$out/go-agent" . 2>&1 | sed 's/^/  go: /')
  echo "$stamp" >"$out/go-agent.stamp"
  say "go-agent built in $(elapsed "$start")"
fi

# --- grpc-java -----------------------------------------------------------------------------
start=$(now)
stamp=$(stamp_of "$here/java" "$(java -version 2>&1 | head -1)" pom.xml \
  $(cd "$here/java" && find src -name '*.java' | sort))
if up_to_date "$out/java-agent.jar" "$stamp"; then
  say "java-agent.jar up to date"
else
  say "java-agent.jar: building with grpc-java (what ~/.m2 lacks comes from Maven Central)"
  mvn_args=(-B -f "$here/java/pom.xml" -Dagents.out="$out/java" -DskipTests package)
  # Offline first (the warm ~/.m2 case, no registry round trips), online when something is missing.
  if ! mvn -o -q "${mvn_args[@]}" >"$out/java-build.log" 2>&1; then
    mvn --no-transfer-progress "${mvn_args[@]}" 2>&1 | tee "$out/java-build.log" |
      grep -E '^\[INFO\] (Building|BUILD|Total time)|Downloaded from|ERROR' | sed 's/^/  mvn: /' || true
    [[ -f $out/java/java-agent.jar && $out/java/java-agent.jar -nt $here/java/pom.xml ]] || {
      say "java-agent.jar: build failed, see $out/java-build.log" >&2; exit 1; }
  fi
  cp "$out/java/java-agent.jar" "$out/java-agent.jar"
  echo "$stamp" >"$out/java-agent.jar.stamp"
  say "java-agent.jar built in $(elapsed "$start")"
fi

# --- @grpc/grpc-js -------------------------------------------------------------------------
start=$(now)
mkdir -p "$out/node"
stamp=$(stamp_of "$here/node" "node $(node --version)" package.json package-lock.json)
cmp -s "$here/node/agent.js" "$out/node/agent.js" || cp "$here/node/agent.js" "$out/node/agent.js"
if up_to_date "$out/node/node_modules" "$stamp"; then
  say "node agent up to date"
else
  say "node agent: npm ci with @grpc/grpc-js (what the npm cache lacks comes from the registry)"
  cp "$here/node/package.json" "$here/node/package-lock.json" "$out/node/"
  (cd "$out/node" && npm ci --no-audit --no-fund --omit=dev --ignore-scripts 2>&1 | sed 's/^/  npm: /')
  echo "$stamp" >"$out/node/node_modules.stamp"
  say "node agent installed in $(elapsed "$start")"
fi

# --- grpcio (Python, C-core) ---------------------------------------------------------------
/usr/bin/python3 -c 'import grpc' || { say "Debian's python3-grpcio does not import" >&2; exit 1; }
say "python agent: grpcio $(/usr/bin/python3 -c 'import grpc; print(grpc.__version__)') (Debian)"

say "done in $(elapsed "$total")"
