# Multi-stage build of the agentproxy image. The build stage installs with the same script as
# the README's quick start, so the image and a developer's machine build the same way.
#
#   docker build -t agentproxy:0.1.0 .
#
# scripts/image.sh builds it with podman on a machine without a registry (the two bases then
# name a Debian 12 base it made with debootstrap), and, with --runtime-only, only the runtime
# stage around a binary CMake already built (`--target prebuilt`). tests/docker checks this
# file against the repository and the binary, builds it and runs it.
ARG BUILD_BASE=debian:bookworm
ARG RUNTIME_BASE=debian:bookworm-slim

FROM ${BUILD_BASE} AS build
WORKDIR /src
COPY scripts/setup.sh scripts/setup.sh
RUN scripts/setup.sh --build-only
# Only what the operator's build reads (tests and benchmarks are off), so that a change
# elsewhere in the repository does not invalidate this layer.
COPY CMakeLists.txt CMakeLists.txt
COPY operator operator
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DAGENTPROXY_BUILD_TESTS=OFF \
 && cmake --build /build -j2 \
 && strip /build/bin/agentproxy

FROM ${RUNTIME_BASE} AS runtime
LABEL org.opencontainers.image.title="agentproxy" \
      org.opencontainers.image.description="gRPC through corporate HTTP proxies: probed and injected"
# gRPC, absl, upb, re2 and c-ares are linked into the binary (AGENTPROXY_STATIC_GRPC), so no
# libgrpc++1.51 here; OpenSSL, cpprestsdk, yaml-cpp and simdjson stay shared (zlib, libstdc++
# and the C library are in the base image). ca-certificates: the system roots the probe
# verifies management-plane certificates against. dpkg leaves out the packages' docs (but
# their copyright files), man pages and translations, as debian:bookworm-slim's own packages.
RUN printf 'path-exclude %s\n' '/usr/share/doc/*' '/usr/share/man/*' '/usr/share/info/*' \
      '/usr/share/locale/*' '/usr/share/lintian/*' >/etc/dpkg/dpkg.cfg.d/agentproxy-slim \
 && echo 'path-include /usr/share/doc/*/copyright' >>/etc/dpkg/dpkg.cfg.d/agentproxy-slim \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libssl3 libcpprest2.10 libyaml-cpp0.7 libsimdjson14 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old \
      /var/log/apt /var/log/dpkg.log /var/log/alternatives.log
# A fixed non-root UID, so that runAsNonRoot can verify it without a passwd entry; the chart
# runs it with runAsUser 65532 too.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/agentproxy", "run"]

# scripts/image.sh --runtime-only: the build context is a folder holding only the binary
# CMake built, stripped.
FROM runtime AS prebuilt
COPY agentproxy /usr/local/bin/agentproxy

# The default target: the binary compiled in the build stage.
FROM runtime
COPY --from=build /build/bin/agentproxy /usr/local/bin/agentproxy
