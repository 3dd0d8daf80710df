# syntax=docker/dockerfile:1
# qunguan — multi-stage build: cargo-chef caches the dependency layer; the runtime image is
# distroless (glibc, CA certificates and tzdata, no shell) and runs as the non-root user 65532.
#
#   docker build -t qunguan .
#   docker run -d --name qunguan --stop-timeout 45 -p 8080:8080 \
#     -v qunguan-data:/data -v "$PWD/rules:/etc/qunguan/rules:ro" \
#     -e QUNGUAN__GATEWAY__ONEBOT__API_ROOT=http://napcat:3000 \
#     -e QUNGUAN__GATEWAY__ONEBOT__SECRET=... qunguan
#
# - State lives in the /data volume (sled database, backups, the control socket). A named
#   volume inherits the ownership below; a bind-mounted directory must be owned by 65532
#   (`chown -R 65532:65532 <dir>`).
# - Rules: the image carries the repository's rules/ in /etc/qunguan/rules; mount your own
#   folder over it (a directory, not single files, so edits reach the daemon's file watcher).
# - Configuration: QUNGUAN__SECTION__KEY variables, or mount a file and pass
#   `run --config /etc/qunguan/config.toml`. The healthcheck reads server.admin_listen from
#   the environment; if your file changes it, set the variable too (or override HEALTHCHECK
#   with `healthcheck --config /etc/qunguan/config.toml`).
# - The webhook listens on 0.0.0.0:8080 inside the container, so unsigned webhooks are refused
#   at start: set QUNGUAN__GATEWAY__ONEBOT__SECRET to the gateway's HTTP-POST secret.
# - The admin listener stays on 127.0.0.1:9090, which is enough for the HEALTHCHECK below. To
#   let a Prometheus in another container scrape /metrics (or reach the console), set
#   QUNGUAN__SERVER__ADMIN_LISTEN=0.0.0.0:9090 together with QUNGUAN__CONSOLE__API_TOKEN or
#   QUNGUAN__CONSOLE__PASSWORD_HASH: without one of them the daemon refuses to start. /metrics
#   and /healthz stay open; everything else then needs the login or the token.
# - Stopping: SIGTERM starts a graceful drain that can take up to twice
#   server.shutdown_grace (20 s: in-flight webhooks, then the outbox's calls in flight) plus a
#   final flush. Give it more than that before SIGKILL: `docker run --stop-timeout 45`, compose
#   `stop_grace_period: 45s`. Docker's default of 10 s can cut the final flush short.

FROM rust:1.95-slim-trixie AS chef
RUN cargo install --locked cargo-chef@0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin qunguan \
    && mkdir -p /data

FROM gcr.io/distroless/cc-debian13:nonroot
COPY --from=builder /src/target/release/qunguan /usr/local/bin/qunguan
COPY --chown=65532:65532 rules /etc/qunguan/rules
COPY --from=builder --chown=65532:65532 /data /data
ENV QUNGUAN__SERVER__LISTEN=0.0.0.0:8080 \
    QUNGUAN__SERVER__ADMIN_LISTEN=127.0.0.1:9090 \
    QUNGUAN__STORAGE__PATH=/data \
    QUNGUAN__RULES__DIR=/etc/qunguan/rules \
    QUNGUAN__LOG__FORMAT=json
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/qunguan", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/qunguan"]
CMD ["run"]
