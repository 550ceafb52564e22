# Multi-stage build: compile in the Rust image, run in a slim Debian as a
# non-root user. Build: docker build -t agentlocator .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
ARG GIT_COMMIT=dev
RUN cargo build --release --locked -p agentlocator \
 && strip target/release/agentlocator

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /app agentlocator \
 && mkdir -p /app/data /app/logs \
 && chown -R agentlocator /app
WORKDIR /app
COPY --from=build /src/target/release/agentlocator /usr/local/bin/agentlocator
ARG GIT_COMMIT=dev
ENV PORT=5000 APP_ENV=production GIT_COMMIT=${GIT_COMMIT}
USER agentlocator
EXPOSE 5000
# /readyz always answers 200; /healthz is the liveness probe.
HEALTHCHECK --interval=30s --timeout=3s CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${PORT} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q ok <&3"]
ENTRYPOINT ["agentlocator"]
CMD ["serve"]
