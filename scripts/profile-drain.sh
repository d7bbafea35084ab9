#!/usr/bin/env bash
# A CPU profile of the release collector through a drain (`e2e-bench`), summed by task:
# `perf record -e cpu-clock -F 5000 --call-graph dwarf,16384` on the collector alone, then
# `scripts/perf-by-task.py`. Arguments go to e2e-bench and replace its defaults here (12,000
# submissions into 16 shards): pass `--shards 16` again with your own `--submissions`. One
# collector only (the script sets `--collector`). AWS_CLIENT=sdk profiles the SDK path.
#
#   scripts/profile-drain.sh [e2e-bench arguments]
#
# Needs `perf` (Debian `linux-perf`; software clock only here, no hardware counters) and
# permission to use it (root, or `kernel.perf_event_paranoid` at 2 or less). Keeps the
# `perf script` output in target/profile/ for a closer look; the raw data (hundreds of MB) is
# deleted. Under perf the collector's CPU figures in e2e-bench's report are perf's own.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for arg in "$@"; do
  case $arg in
    --collector*) echo "profile-drain.sh: --collector is set by this script" >&2; exit 2 ;;
  esac
done
if ! perf record -q -e cpu-clock -o /dev/null true 2>/dev/null; then
  echo "profile-drain.sh: perf cannot record here (install linux-perf; run as root or lower kernel.perf_event_paranoid)" >&2
  exit 1
fi
scripts/install-emulators.sh --localstack
cargo build --release --locked -p telemetry-collector -p telemetry-localenv
mkdir -p target/profile
data=$PWD/target/profile/drain.data
wrapper=$PWD/target/profile/collector-under-perf.sh
# The collector dies with perf (setpriv's parent-death signal): if e2e-bench has to kill perf,
# no collector is left running.
cat >"$wrapper" <<EOF
#!/bin/sh
exec perf record -q -e cpu-clock -F 5000 --call-graph dwarf,16384 -o "$data" -- setpriv --pdeathsig TERM "$PWD/target/release/telemetry-collector" "\$@"
EOF
chmod +x "$wrapper"
[ $# -gt 0 ] || set -- --submissions 12000 --shards 16
if ! target/release/e2e-bench "$@" --collector "$wrapper" >target/profile/drain.txt 2>&1; then
  tail -30 target/profile/drain.txt >&2
  exit 1
fi
perf script -i "$data" -F comm,tid,ip,sym --no-inline >target/profile/drain.perf 2>target/profile/perf-script.log
rm -f "$data"
grep -E '^(events in the stream|records per PutRecords|drained in)' target/profile/drain.txt
scripts/perf-by-task.py target/profile/drain.perf
