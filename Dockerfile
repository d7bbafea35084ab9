# Multi-stage build of telemetry-collector, shard-supervisor and sensor-fleet.
#   docker build -t telemetry-collector .
# The final image holds only the three binaries on distroless (glibc, CA certificates, no shell)
# and runs as its non-root user (uid 65532).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p telemetry-collector -p telemetry-supervisor -p telemetry-fleet \
 && mkdir -p /out \
 && cp target/release/telemetry-collector target/release/shard-supervisor target/release/sensor-fleet /out/

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/telemetry-collector /out/shard-supervisor /out/sensor-fleet /usr/local/bin/
USER nonroot:nonroot
# Health and metrics listener; bind all interfaces inside the container.
ENV HTTP_ADDR=0.0.0.0:9898
EXPOSE 9898
ENTRYPOINT ["/usr/local/bin/telemetry-collector"]
