#!/usr/bin/env bash
# Runs the whole system locally, without Docker: installs the pinned emulators into .tools/ if
# missing, builds the collector, the fleet and the runner, then starts moto (SQS) and kinesalite
# (Kinesis) on free loopback ports, the queue and a 2-shard stream, the collector and the sensor
# fleet, with live figures until Ctrl-C. Ctrl-C stops the fleet, drains the collector and stops
# the emulators: no process is left behind. Logs and the fleet's manifest go to .local/.
#   scripts/run.sh                      # the original fleet: 10 devices, one submission each 30-45 s
#   scripts/run.sh -- --rate 50         # arguments after -- go to sensor-fleet
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-emulators.sh
cargo build --locked --quiet -p telemetry-collector -p telemetry-fleet -p telemetry-stream-tools -p telemetry-localenv
exec target/debug/run-local "$@"
