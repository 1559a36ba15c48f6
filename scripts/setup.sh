#!/usr/bin/env bash
# Installs what agentproxy needs to build, test and run its demo on Debian 12, as root.
# Idempotent and fast when everything is there: apt runs only for missing packages.
set -euo pipefail

# --build-only: just what compiling the operator needs (the Dockerfile's build stage).
build_packages=(
  g++ cmake ninja-build ccache pkg-config git ca-certificates
  libssl-dev libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  nlohmann-json3-dev libgtest-dev libgmock-dev libcpprest-dev libboost-dev libyaml-cpp-dev libsimdjson-dev
  libc-ares-dev
)
# The proxy lab the tests, the demo and the benchmarks run on 127.0.0.1.
lab_packages=(squid-openssl tinyproxy nginx mitmproxy openssl curl python3)
# bench/fuzz.sh: clang with libFuzzer and the sanitizer runtimes, llvm-symbolizer for the stacks.
lab_packages+=(clang-14 libclang-rt-14-dev llvm-14)
# scripts/tsan.sh: g++'s ThreadSanitizer runtime (g++ brings it on amd64; named so it is checked).
lab_packages+=(libtsan2)
# The agents' runtime matrix (tests/agents): network namespaces, the Python agent's grpcio (C-core)
# and Maven for the Java agent (Go, the JDK and Node come with this machine kind).
lab_packages+=(iproute2 python3-grpcio maven)
# The image tests (tests/docker): podman with runc builds and runs the image, debootstrap makes
# its Debian base (scripts/image.sh, which installs these too when run on its own).
lab_packages+=(podman runc uidmap fuse-overlayfs debootstrap)

packages=("${build_packages[@]}")
[[ ${1:-} == --build-only ]] || packages+=("${lab_packages[@]}")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages: ${missing[*]}; run as root (or install them) first" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Package scripts may try to start squid/nginx/tinyproxy as system services; the lab runs
  # its own instances on free loopback ports, so those are not needed.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[[ ${1:-} == --build-only ]] && exit 0
# helm, for the chart tests and the demo.
"$(dirname "$0")/lib/install_k8s_tools.sh"
# The real Kubernetes control plane the tests and the demo run (kube-apiserver,
# kube-controller-manager, kubectl v1.36.3 and etcd), built from the Go modules pinned in
# controlplane/ and cached outside the work tree: minutes the first time, nothing after.
if ! command -v go >/dev/null 2>&1; then
  echo "setup: Go 1.26 is needed to build the control plane (controlplane/*/go.mod), and Debian 12" >&2
  echo "       packages only Go 1.19; install Go 1.26 (go.dev/dl) and run this again" >&2
  exit 1
fi
"$(dirname "$0")/controlplane-build.sh" >/dev/null
