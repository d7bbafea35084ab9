# Multi-stage build of telemetry-collector and sensor-fleet.
#   docker build -t telemetry-collector .
# The final image holds only the two binaries on distroless (glibc, CA certificates, no shell)
# and runs as its non-root user (uid 65532).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p telemetry-collector -p telemetry-fleet \
 && mkdir -p /out \
 && cp target/release/telemetry-collector target/release/sensor-fleet /out/

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/telemetry-collector /out/sensor-fleet /usr/local/bin/
USER nonroot:nonroot
# Health and metrics listener; bind all interfaces inside the container.
ENV HTTP_ADDR=0.0.0.0:9898
EXPOSE 9898
ENTRYPOINT ["/usr/local/bin/telemetry-collector"]
