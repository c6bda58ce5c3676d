# syntax=docker/dockerfile:1
#
# promptops server image: `promptops serve` on port 8080, as the non-root user 65532, with a
# read-only root filesystem (only /tmp, and /data for SQLite, need to be writable: the Helm chart
# mounts them). Build from the repository root:
#
#   docker build -t ghcr.io/promptops/promptops:0.1.0 .
#
# This Dockerfile is not built in this repository's CI (no container engine there); it is kept
# simple and conventional, and checked with hadolint by helm/check.sh.

# --- build --------------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep downloaded crates and build artefacts between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p promptops-cli \
    && install -D -m 0755 target/release/promptops /out/promptops

# --- ci -----------------------------------------------------------------------------------------
# The same binary for CI jobs that run promptops as a step (GitLab's `image:`, a GitHub container
# job): those run a shell script, which the distroless image below cannot, and `eval --changed`
# or `--since` need git. buildpack-deps' scm variant is Debian 12 with git, a shell and CA
# certificates, and needs no package installation here. Build it with `--target ci`:
#
#   docker build --target ci -t ghcr.io/promptops/promptops:0.1.0-ci .
FROM buildpack-deps:bookworm-scm AS ci
COPY --from=build /out/promptops /usr/local/bin/promptops
CMD ["promptops", "--help"]

# --- run ----------------------------------------------------------------------------------------
# distroless/cc: glibc and libgcc only (same Debian 12 base as the build image), no shell, no
# package manager. The :nonroot tag runs as uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="promptops" \
      org.opencontainers.image.description="Prompts as code: registry, evals, A/B statistics, workflows and a control-plane server" \
      org.opencontainers.image.source="https://github.com/promptops/promptops" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=build /out/promptops /usr/local/bin/promptops
USER 65532:65532
ENV PROMPTOPS_ADDR=0.0.0.0:8080
EXPOSE 8080
# No HEALTHCHECK: Kubernetes probes /healthz and /readyz. `promptops migrate` runs with the same
# entrypoint (args: ["migrate"]).
ENTRYPOINT ["/usr/local/bin/promptops"]
CMD ["serve"]
