# Multi-stage build of the agentproxy image. The build stage installs with the same script as
# the README's quick start, so the image and a developer's machine build the same way.
# tests/docker checks this file against the repository and the binary (no Docker runs there).
#
#   docker build -t agentproxy:0.1.0 .
FROM debian:bookworm AS build
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

FROM debian:bookworm-slim
LABEL org.opencontainers.image.title="agentproxy" \
      org.opencontainers.image.description="gRPC through corporate HTTP proxies: probed and injected"
# gRPC, absl, upb, re2 and c-ares are linked into the binary (AGENTPROXY_STATIC_GRPC), so no
# libgrpc++1.51 here; OpenSSL, cpprestsdk, yaml-cpp and simdjson stay shared (zlib, libstdc++
# and the C library are in the base image). ca-certificates: the system roots the probe
# verifies management-plane certificates against.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libssl3 libcpprest2.10 libyaml-cpp0.7 libsimdjson14 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/bin/agentproxy /usr/local/bin/agentproxy
# A fixed non-root UID, so that runAsNonRoot can verify it without a passwd entry; the chart
# runs it with runAsUser 65532 too.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/agentproxy", "run"]
