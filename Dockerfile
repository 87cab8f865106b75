# syntax=docker/dockerfile:1
# The one AgentOps image: every container runs `agentops <subcommand>`
# (api, chief-of-staff, seed, telegram, migrate up).
#
#   docker build --platform linux/amd64 -t agentops .
#   docker run --rm -p 8080:8080 agentops              # API on embedded defaults
#   docker run --rm -e DATABASE_URL agentops migrate up

ARG RUST_VERSION=1.95

# --- build ---------------------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target directory between builds; the
# binary is copied out because the target mount does not outlive this step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin agentops \
 && install -D -m 0755 target/release/agentops /out/agentops

# --- runtime ---------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# Unpinned on purpose: they must follow Debian security updates. curl and jq are
# there for Seed's shell steps (with sh and coreutils, what its tasks can use);
# build a derived image for more tools. bubblewrap isolates each shell step (prlimit,
# from util-linux, sets its limits; socat relays a step's granted network to the
# worker's egress proxy); it needs user namespaces from the host.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl jq bubblewrap util-linux socat \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 agentops \
 && useradd --system --uid 10001 --gid agentops --home-dir /var/lib/agentops --create-home --shell /usr/sbin/nologin agentops
COPY --from=build /out/agentops /usr/local/bin/agentops

# Embedded mode (no DATABASE_URL/REDIS_URL/S3_*) keeps its SQLite file and
# artifacts in the working directory.
WORKDIR /var/lib/agentops
USER 10001:10001
ENV AGENTOPS_BIND=0.0.0.0:8080 \
    AGENTOPS_LOG_FORMAT=json \
    RUST_LOG=info
EXPOSE 8080

# No curl in the image: the binary checks itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["agentops", "healthcheck", "--url", "http://127.0.0.1:8080/health"]

ENTRYPOINT ["agentops"]
CMD ["api"]
