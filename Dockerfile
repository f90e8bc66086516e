# Moat as a container image: `docker build -t moat .` from the repository's root.
# Stage one builds the release binary; the final image is Debian slim with the binary,
# CA certificates and git (for `moat repo` commands that clone), run as a non-root user.
# The same binary serves one node or many (see deploy/compose and deploy/helm).

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p moat \
    && cp target/release/moat /usr/local/bin/moat

FROM debian:bookworm-slim
# Versions follow Debian's security updates for bookworm rather than a pin.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/moat --create-home moat
COPY --from=build /usr/local/bin/moat /usr/local/bin/moat
USER 10001:10001
WORKDIR /var/lib/moat
ENV MOAT_DATA_DIR=/var/lib/moat
EXPOSE 8480
ENTRYPOINT ["/usr/local/bin/moat"]
CMD ["serve", "--config", "/etc/moat/moat.toml", "--listen", "0.0.0.0:8480"]
