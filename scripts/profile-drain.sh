#!/usr/bin/env bash
# A CPU profile of the release collector through a drain (`e2e-bench`), summed by task:
# `perf record -e cpu-clock --call-graph dwarf` on the collector alone, then
# `scripts/perf-by-task.py`. Extra arguments go to e2e-bench (default: 12,000 submissions into
# 16 shards); AWS_CLIENT=sdk profiles the SDK path.
#
#   scripts/profile-drain.sh [e2e-bench arguments]
#
# Needs `perf` (Debian `linux-perf`; software clock only here, no hardware counters). Keeps
# the `perf script` output in target/profile/ for a closer look; the raw data (hundreds of MB)
# is deleted. Under perf the collector's CPU figures in e2e-bench's report are perf's own.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-emulators.sh --localstack
cargo build --release --locked -p telemetry-collector -p telemetry-localenv
mkdir -p target/profile
data=$PWD/target/profile/drain.data
wrapper=$PWD/target/profile/collector-under-perf.sh
cat >"$wrapper" <<EOF
#!/bin/sh
exec perf record -q -e cpu-clock -F 5000 --call-graph dwarf,16384 -o "$data" "$PWD/target/release/telemetry-collector" "\$@"
EOF
chmod +x "$wrapper"
[ $# -gt 0 ] || set -- --submissions 12000 --shards 16
target/release/e2e-bench "$@" --collector "$wrapper" >target/profile/drain.txt 2>&1
perf script -i "$data" -F comm,tid,ip,sym --no-inline >target/profile/drain.perf 2>/dev/null
rm -f "$data"
grep -E '^(events in the stream|records per PutRecords|drained in)' target/profile/drain.txt
scripts/perf-by-task.py target/profile/drain.perf
