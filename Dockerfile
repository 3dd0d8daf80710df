# syntax=docker/dockerfile:1
# qunguan — multi-stage build: cargo-chef caches the dependency layer; the runtime image is
# distroless (glibc + CA certificates, no shell) and runs as a non-root user.

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
WORKDIR /app
COPY --from=builder /src/target/release/qunguan /app/qunguan
COPY --chown=65532:65532 rules /app/rules
COPY --from=builder --chown=65532:65532 /data /data
ENV QUNGUAN__SERVER__LISTEN=0.0.0.0:8080 \
    QUNGUAN__STORAGE__PATH=/data \
    QUNGUAN__RULES__DIR=/app/rules
USER 65532:65532
VOLUME ["/data"]
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/qunguan"]
CMD ["run"]
