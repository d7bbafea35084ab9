#!/usr/bin/env bash
# Runs the whole system locally, without Docker: installs the pinned emulators into .tools/ if
# missing, builds the collector, the fleet and the runner, then starts moto (SQS) and kinesalite
# (Kinesis) on free loopback ports, the queue and a 2-shard stream, the collector and the sensor
# fleet, with live figures until Ctrl-C. Ctrl-C stops the fleet, drains the collector and stops
# the emulators: no process is left behind. Logs and the fleet's manifest go to .local/.
# The runner's own flags come before -- (scripts/run.sh --help lists them):
#   --production                  production-shaped proxies between every process and the emulators:
#                                 HTTPS (CA in .local/ca.pem, given to the processes as SSL_CERT_FILE),
#                                 AWS's round-trip time (~25 ms Kinesis, ~15 ms SQS), Kinesis's shard
#                                 limits (1,000 records and 1 MiB/s per shard) and SigV4 checks; the
#                                 figures show the records throttled (docs/production-shape.md)
#   --shard-limit-scale F         with --production: the shard limits times F (0.1: 100 records/s)
#   scripts/run.sh                      # the original fleet: 10 devices, one submission each 30-45 s
#   scripts/run.sh -- --rate 50         # arguments after -- go to sensor-fleet
#   scripts/run.sh --production --shard-limit-scale 0.1 -- --rate 50
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-emulators.sh
cargo build --locked --quiet -p telemetry-collector -p telemetry-fleet -p telemetry-stream-tools -p telemetry-localenv
exec target/debug/run-local "$@"
