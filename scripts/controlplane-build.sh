#!/usr/bin/env bash
# Builds the real Kubernetes control plane the tests and the demo run (kube-apiserver,
# kube-controller-manager, kubectl from k8s.io/kubernetes; etcd from go.etcd.io/etcd/server/v3)
# from the Go modules pinned in controlplane/, and prints the folder that holds the binaries.
#
# The binaries are cached outside the work tree, under a key made of everything that pins
# them (both go.mod and go.sum, this script, the Go version), so a second run, or another
# clone, builds nothing. A cold build takes minutes on 2 cores and prints progress.
#
#   scripts/controlplane-build.sh        build if needed; the last line is the bin folder
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cp="$root/controlplane"
k8s_version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' "$cp/kubernetes/go.mod")"
[[ -n $k8s_version ]] || { echo "controlplane: no k8s.io/kubernetes require in $cp/kubernetes/go.mod" >&2; exit 1; }

command -v go >/dev/null || { echo "controlplane: go is not installed (Go 1.26 is needed)" >&2; exit 1; }
go_version="$(GOTOOLCHAIN=local go env GOVERSION)"

minor="${k8s_version#v1.}"; minor="${minor%%.*}"
version_pkgs=(k8s.io/component-base/version k8s.io/client-go/pkg/version)
ldflags=""
for p in "${version_pkgs[@]}"; do
  ldflags+=" -X $p.gitVersion=$k8s_version -X $p.gitMajor=1 -X $p.gitMinor=$minor"
  ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
build_flags="-trimpath -ldflags=-s -w"
# The key: what pins the binaries (modules, Go, the flags), not this script's other lines.
key="$(cat "$cp"/kubernetes/go.mod "$cp"/kubernetes/go.sum "$cp"/etcd/go.mod "$cp"/etcd/go.sum \
          <(echo "$go_version $build_flags $ldflags") | sha256sum | cut -c1-16)"
cache="${AGENTPROXY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agentproxy}/controlplane/$k8s_version-$key"
bins=(kube-apiserver kube-controller-manager kubectl etcd)

have_all() { for b in "${bins[@]}"; do [[ -x $cache/bin/$b ]] || return 1; done; }
if have_all; then echo "$cache/bin"; exit 0; fi

# sum.golang.org is not reachable here; the committed go.sum files verify every module, and
# -mod=readonly refuses anything they do not list.
export GOTOOLCHAIN=local CGO_ENABLED=0 GOSUMDB=off GOFLAGS="-buildvcs=false -mod=readonly"
jobs="${AGENTPROXY_JOBS:-2}"
mkdir -p "$cache"
staging="$(mktemp -d "$cache/.build.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

# go build -v names each package as it compiles it (cached ones are not named): a ticker
# turns that into a line every 20 s, so a cold build is never minutes of silence.
build() {  # build NAME MODULE_DIR LDFLAGS PACKAGE...
  local name="$1" dir="$2" ldflags="$3"; shift 3
  local log="$staging/$name.log" start=$SECONDS
  echo "controlplane: building $name (cold: several minutes on 2 cores; Go's build cache makes it fast next time)" >&2
  (cd "$dir" && go mod download)  # fetches what is missing from the module proxy
  (cd "$dir" && go build -p "$jobs" -v -trimpath -ldflags "-s -w $ldflags" -o "$staging/" "$@") 2>"$log" &
  local pid=$! next=$((SECONDS + 20))
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if ((SECONDS >= next)); then
      echo "controlplane: $name: $(grep -c . "$log" || true) packages compiled, $((SECONDS - start)) s" >&2
      next=$((SECONDS + 20))
    fi
  done
  if ! wait "$pid"; then
    echo "controlplane: building $name failed; the last lines of go build:" >&2
    grep -v '^[a-zA-Z0-9._/~-]*$' "$log" | tail -30 >&2 || tail -30 "$log" >&2
    exit 1
  fi
  echo "controlplane: $name built in $((SECONDS - start)) s" >&2
}

build kubernetes "$cp/kubernetes" "$ldflags" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kubectl
build etcd "$cp/etcd" "" go.etcd.io/etcd/server/v3
# go names a main package of module path .../server/v3 "server".
mv "$staging/server" "$staging/etcd"

mkdir -p "$cache/bin"
for b in "${bins[@]}"; do mv "$staging/$b" "$cache/bin/$b"; done
echo "controlplane: $("$cache/bin/kube-apiserver" --version), etcd $("$cache/bin/etcd" --version | awk 'NR==1{print $3}')" >&2
echo "$cache/bin"
