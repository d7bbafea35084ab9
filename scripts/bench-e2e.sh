#!/usr/bin/env bash
# End-to-end benchmark: release collector against LocalStack (SQS) and kinesalite (Kinesis).
# Extra arguments go to e2e-bench (see `--help`), e.g. `scripts/bench-e2e.sh --submissions 2000`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-emulators.sh --localstack
cargo build --release --locked -p telemetry-collector -p telemetry-localenv
exec target/release/e2e-bench "$@"
