# The `hangar` binary in a small image: one image for the server, the
# workers and one-off commands (`hangar migrate`, `hangar run`).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin hangar

FROM debian:bookworm-slim
# util-linux gives `setpriv`, with which shell tasks die with their worker;
# ca-certificates for S3 over TLS.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates util-linux \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/hangar /usr/local/bin/hangar
COPY pipelines /opt/hangar/pipelines
COPY examples /opt/hangar/examples
WORKDIR /opt/hangar
ENV HANGAR_HOME=/var/lib/hangar
ENTRYPOINT ["hangar"]
