# A fleet in a container: the sim5360 binary on a small Debian base.
#
# These machines cannot build images (no container engine): the build stage runs only the
# release build the repository's benches already run (`cargo build --release -p sim5360
# --locked`), and the final stage only copies its result. docs/fleet.md says how to use it.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p sim5360 --locked

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/sim5360 /usr/local/bin/sim5360
# Unprivileged; the fleet's EFS and state go to /data (a volume).
RUN mkdir -p /data && chown 65534:65534 /data
USER 65534:65534
VOLUME /data
# One TCP port per modem from 5360 (a --tcp fleet), the control API on 8080.
EXPOSE 5360-5459 8080
ENTRYPOINT ["sim5360"]
CMD ["--modems", "100", "--tcp", "0.0.0.0:5360", "--control", "0.0.0.0:8080", \
     "--efs", "/data/efs", "--state", "/data/state", "--boot-delay", "0", "--ready-json"]
