#!/usr/bin/env bash
# Builds the agentproxy image with podman and tags it agentproxy:dev.
#
#   scripts/image.sh [--full] [--runtime-only [--binary PATH]] [--tag NAME] [--no-cache]
#                    [--refresh-base]
#
#   --full          (the default) the whole multi-stage Dockerfile: the build stage installs
#                   the toolchain with scripts/setup.sh --build-only and compiles the operator
#   --runtime-only  only the runtime stage, around the binary CMake already built
#                   (build/bin/agentproxy, or --binary PATH), stripped of its debug info;
#                   what CI uses (tests/docker)
#   --tag NAME      the image's name (default agentproxy:dev)
#   --no-cache      rebuild every layer (a cold build; the base stays cached)
#   --refresh-base  make the Debian base again with debootstrap
#
# No image registry is reachable here, so the base (debian:bookworm-slim for everyone else)
# is made with `debootstrap --variant=minbase bookworm`, slimmed the way Debian's official
# images are (no docs but copyright files, no man pages, no locales), cached under
# ~/.cache/agentproxy/images (AGENTPROXY_IMAGE_CACHE, or AGENTPROXY_CACHE/images) and imported
# into podman. Installs
# podman, runc, uidmap, fuse-overlayfs and debootstrap when they are missing (needs root).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/lib/image.sh

mode=full tag=agentproxy:dev binary=$root/build/bin/agentproxy no_cache=() refresh_base=false
while (($#)); do
  case $1 in
    --full) mode=full ;;
    --runtime-only) mode=runtime-only ;;
    --binary) binary=${2:?--binary needs a path}; shift ;;
    --tag) tag=${2:?--tag needs a name}; shift ;;
    --no-cache) no_cache=(--no-cache) ;;
    --refresh-base) refresh_base=true ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "image: unknown argument \"$1\" (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [[ $mode == runtime-only && ! -x $binary ]]; then
  echo "image: no binary at $binary: run scripts/build.sh first (or give --binary PATH)" >&2
  exit 1
fi

started=$SECONDS
say() { printf 'image: [%4ds] %s\n' $((SECONDS - started)) "$*"; }

# follow WHAT: copies stdin to stdout with the elapsed time in front of each line. Lines
# matching $FOLLOW_QUIET are counted, not printed; when nothing was printed for 20 s (apt and
# the compiler can be quiet for minutes) it says what it is still waiting for.
follow() {
  local what=$1 chunk line partial="" step="" hidden="" quiet=0 printed=$SECONDS rc eof=false
  while ! $eof; do
    # A read that times out keeps what it got of a line; it is put in front of the rest.
    if IFS= read -r -t 5 chunk; then
      line=$partial$chunk partial=""
    else
      rc=$?
      if ((rc > 128)); then
        partial+=$chunk
        line=""
      else
        eof=true line=$partial$chunk
      fi
    fi
    if [[ -n $line ]]; then
      if [[ -n ${FOLLOW_QUIET:-} && $line =~ $FOLLOW_QUIET ]]; then
        ((++quiet))
        hidden=$line
      else
        [[ $line =~ ^(\[[0-9]+/[0-9]+\] )?STEP ]] && step=${line:0:100}
        printf '  [%4ds] %s\n' $((SECONDS - started)) "$line"
        printed=$SECONDS hidden=""
      fi
    fi
    if ((SECONDS - printed >= 20)); then
      say "still working on $what${step:+, at $step}${hidden:+ ($hidden)}"
      printed=$SECONDS
    fi
  done
  ((quiet == 0)) || say "$what: $quiet per-package lines not shown"
}

# --- what this script needs -------------------------------------------------------------
needed=(podman runc uidmap fuse-overlayfs debootstrap)
missing=()
for p in "${needed[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "image: missing packages: ${missing[*]}; run as root (or install them) first" >&2
    exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "image: podman runs as root on this machine kind (see FIELD-NOTES.md); run as root" >&2
  exit 1
fi

# --- the Debian base --------------------------------------------------------------------
# The cache key names what the base is made from; bump recipe when make_base changes.
suite=bookworm variant=minbase recipe=2
arch=$(dpkg --print-architecture)
mirror=${AGENTPROXY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# The user's own home, not $HOME: the demo and the tests give kubectl and helm a HOME of
# their own, and the base must outlive them.
user_home=$(getent passwd "$(id -u)" | cut -d: -f6)
cache_root=${AGENTPROXY_CACHE:-${XDG_CACHE_HOME:-${user_home:-$HOME}/.cache}/agentproxy}
cache=${AGENTPROXY_IMAGE_CACHE:-$cache_root/images}
key=debian-$suite-$variant-slim-$arch-r$recipe
tarball=$cache/$key/rootfs.tar
base_image=localhost/agentproxy-base:$suite-slim-r$recipe

make_base() {
  local dir=$cache/$key.tmp
  rm -rf "$dir" "$cache/$key"
  mkdir -p "$dir"
  say "making the base: debootstrap --variant=$variant $suite (once; cached in $cache/$key)"
  if ! debootstrap --variant="$variant" --arch="$arch" "$suite" "$dir/rootfs" "$mirror" 2>&1 |
    FOLLOW_QUIET='^I: (Retrieving|Validating|Extracting|Unpacking|Configuring) [^ ]+( [0-9][^ ]*|\.\.\.)$' \
      follow debootstrap; then
    echo "image: debootstrap failed (its log: $dir/rootfs/debootstrap/debootstrap.log)" >&2
    return 1
  fi
  local r=$dir/rootfs
  # What debian:bookworm-slim has (debuerreotype's slimify and its apt/dpkg settings): later
  # installs skip docs, man pages and locales too, apt keeps no .deb files and no
  # translations.
  cat >"$r/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
  echo force-unsafe-io >"$r/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
  cat >"$r/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$r/etc/apt/apt.conf.d/docker-no-languages"
  echo 'Acquire::GzipIndexes "true";' >"$r/etc/apt/apt.conf.d/docker-gzip-indexes"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' \
    >"$r/etc/apt/apt.conf.d/docker-autoremove-suggests"
  find "$r/usr/share/doc" -mindepth 1 -not -type d -not -name copyright -delete
  find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
  rm -rf "$r"/usr/share/{groff,info,linda,locale,man}/* "$r"/usr/share/lintian/overrides/*
  # Security and point-release updates, as in the official image.
  rm -f "$r/etc/apt/sources.list"
  cat >"$r/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # debootstrap takes $suite alone: the security and point-release updates come on top, so
  # that the base is as current as Debian's own image of the day.
  say "base: installing $suite-security and $suite-updates upgrades"
  if ! { chroot "$r" apt-get update -qq &&
    chroot "$r" env DEBIAN_FRONTEND=noninteractive \
      apt-get -o Dpkg::Use-Pty=0 -y -qq upgrade; } 2>&1 |
    FOLLOW_QUIET='^(Preparing to unpack|Unpacking|Setting up|Selecting|\(Reading database)' \
      follow "the base's upgrades"; then
    echo "image: upgrading the base failed" >&2
    return 1
  fi
  rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/*.bin "$r"/var/lib/apt/lists/*
  rm -f "$r"/var/lib/dpkg/*-old "$r"/var/cache/debconf/*-old
  rm -f "$r"/var/log/bootstrap.log "$r"/var/log/alternatives.log "$r"/var/log/dpkg.log
  rm -rf "$r"/var/log/apt/* "$r"/tmp/* "$r"/root/.cache
  : >"$r/etc/hostname"
  : >"$r/etc/resolv.conf"
  tar --numeric-owner --xattrs -C "$r" -cf "$dir/rootfs.tar" .
  rm -rf "$r"
  date -u +%Y-%m-%dT%H:%M:%SZ >"$dir/made"
  mv "$dir" "$cache/$key"
  say "base made: $(du -h "$tarball" | cut -f1) uncompressed"
}

mkdir -p "$cache"
# One maker and importer of the base at a time (tests in several build trees run this too).
exec 9>"$cache/$key.lock"
if ! flock -n 9; then
  say "waiting for another scripts/image.sh making or importing the base"
  flock 9
fi
if $refresh_base || [[ ! -f $tarball ]]; then
  make_base
else
  say "base: cached $cache/$key (made $(cat "$cache/$key/made" 2>/dev/null || echo '?'))"
fi
# Import when podman lacks it or holds an import of another tarball.
base_sum=$(sha256sum "$tarball" | cut -c1-16)
if [[ $("${IMAGE_PODMAN[@]}" image inspect -f '{{index .Labels "io.agentproxy.base.rootfs"}}' \
  "$base_image" 2>/dev/null) != "$base_sum" ]]; then
  say "importing the base into podman as $base_image"
  "${IMAGE_PODMAN[@]}" import -q \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' --change "LABEL io.agentproxy.base.rootfs=$base_sum" \
    "$tarball" "$base_image" >/dev/null
fi

flock -u 9

# --- the image --------------------------------------------------------------------------
build=("${IMAGE_PODMAN[@]}" build --network host --ulimit nofile=1024:1024
  --ulimit nproc=1024:1024 --build-arg "BUILD_BASE=$base_image"
  --build-arg "RUNTIME_BASE=$base_image" -f "$root/Dockerfile" -t "$tag" "${no_cache[@]}")
if [[ $mode == runtime-only ]]; then
  # The build context is a folder holding only the stripped binary (the Dockerfile's
  # `prebuilt` stage copies it), not the repository and its build tree.
  context=$(mktemp -d /tmp/agentproxy-image.XXXXXX)
  trap 'rm -rf "$context"' EXIT
  strip --strip-all -o "$context/agentproxy" "$binary"
  say "runtime stage around $binary ($(du -h "$binary" | cut -f1)," \
    "stripped $(du -h "$context/agentproxy" | cut -f1))"
  build+=(--target prebuilt "$context")
else
  say "full multi-stage build (the operator compiles in the build stage: minutes when cold)"
  build+=("$root")
fi
previous=$("${IMAGE_PODMAN[@]}" image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
build_started=$SECONDS
if ! "${build[@]}" 2>&1 | follow "podman build"; then
  echo "image: podman build failed" >&2
  exit 1
fi
build_seconds=$((SECONDS - build_started))
# The image this tag named before goes when no name is left on it (and no container uses
# it), so that rebuilding in a loop does not fill podman's storage.
now=$("${IMAGE_PODMAN[@]}" image inspect -f '{{.Id}}' "$tag")
if [[ -n $previous && $previous != "$now" &&
  $("${IMAGE_PODMAN[@]}" image inspect -f '{{len .RepoTags}}' "$previous" 2>/dev/null) == 0 ]]; then
  "${IMAGE_PODMAN[@]}" rmi "$previous" >/dev/null 2>&1 || true
fi

size=$("${IMAGE_PODMAN[@]}" image inspect -f '{{.Size}}' "$tag")
say "built $tag ($mode) in ${build_seconds} s (whole script $((SECONDS - started)) s)"
say "size: $((size / 1000000)) MB ($size bytes); layers:"
"${IMAGE_PODMAN[@]}" history --format '{{.Size}}\t{{.CreatedBy}}' "$tag" |
  awk -F'\t' '$1 !~ /^0 ?B$/ { printf "    %9s  %s\n", $1, substr($2, 1, 90) }'
