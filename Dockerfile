# Multi-stage build of the agentproxy image. The build stage installs with the same script as
# the README's quick start, so the image and a developer's machine build the same way.
FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/setup.sh scripts/setup.sh
RUN scripts/setup.sh --build-only
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DAGENTPROXY_BUILD_TESTS=OFF \
 && cmake --build /build -j2 \
 && strip /build/bin/agentproxy

FROM debian:bookworm-slim
# gRPC, absl, upb, re2 and c-ares are linked into the binary (AGENTPROXY_STATIC_GRPC), so no
# libgrpc++1.51 here; OpenSSL, cpprestsdk and yaml-cpp stay shared.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 libcpprest2.10 libyaml-cpp0.7 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/bin/agentproxy /usr/local/bin/agentproxy
# A fixed non-root UID so that runAsNonRoot can verify it without a passwd entry.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/agentproxy", "run"]
