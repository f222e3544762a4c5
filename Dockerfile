# syntax=docker/dockerfile:1
#
# The operator image: the release binary of `tenant-operator` built without the `dev`
# feature (so without the in-memory API server, which is test infrastructure), on a
# distroless base that holds only glibc, libgcc and CA certificates: no shell, no package
# manager. It runs as the distroless `nonroot` user (65532, the user the chart's pod
# securityContext names) and writes nothing, so it runs with a read-only root file system.
#
#   docker build -t tenant-operator:0.1.0 .
#
# The tag is the workspace version, which is the chart's appVersion (the chart's default
# tag); a test keeps the three equal. hack/e2e-kind.sh builds this image and loads it into
# a kind cluster. The base images are pinned by version here; a release pipeline that can
# reach the registries should also pin their digests.

# Build stage: the toolchain of rust-toolchain.toml, on the Debian release (bookworm) of
# the runtime image, so that the binary links against the glibc it will run with.
FROM docker.io/library/rust:1.95.0-slim-bookworm AS build
WORKDIR /src
# The whole workspace: cargo needs every member's manifest to resolve the lock file.
# .dockerignore leaves out target/, .tools/ and .git/.
COPY . .
# Cache mounts keep the registry and the build directory between builds on one machine;
# the binary is copied out of the cached target directory.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --no-default-features \
        --package tenant-operator --bin tenant-operator \
    && install -D -m 0555 target/release/tenant-operator /out/tenant-operator

# Runtime stage.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="tenant-operator" \
      org.opencontainers.image.description="Kubernetes operator that turns a TenantService into isolated, audited tenant namespaces" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="EUPL-1.2" \
      org.opencontainers.image.vendor="InnovaPuglia"
COPY --from=build /out/tenant-operator /usr/local/bin/tenant-operator
USER 65532:65532
# The admin port: /livez, /readyz, /metrics (`run --admin-addr`, default 0.0.0.0:8080).
EXPOSE 8080
# Kubernetes probes the admin port (the chart's liveness, readiness and startup probes);
# a Docker HEALTHCHECK would need a client the image deliberately does not carry.
ENTRYPOINT ["/usr/local/bin/tenant-operator"]
CMD ["run"]
