#!/usr/bin/env bash
# Heap allocations per event of the release collector in a drain (`e2e-bench`), counted by
# uprobes on mimalloc's entry points (the collector's global allocator): every `alloc`,
# `alloc_zeroed` and `realloc` of the process. Two drains, of N and 2N submissions; the
# difference divided by the difference in events leaves start-up out.
#
#   scripts/count-allocations.sh [N]            (default 6000; AWS_CLIENT=sdk for the SDK path)
#
# Needs `perf` and root (uprobes; Debian `linux-perf`). The probes slow every allocation by a
# trap, so the collector runs several times slower and its PutRecords batches come out larger
# than in a plain drain: per-call allocations weigh less here than they do there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n=${1:-6000}
scripts/install-emulators.sh --localstack
cargo build --release --locked -p telemetry-collector -p telemetry-localenv
bin=$PWD/target/release/telemetry-collector
group=probe_telemetry
functions=(mi_malloc_aligned mi_zalloc_aligned mi_realloc_aligned)
perf probe -q -d "$group:*" 2>/dev/null || true
for f in "${functions[@]}"; do perf probe -q -x "$bin" -a "$f"; done
trap 'perf probe -q -d "$group:*" 2>/dev/null || true' EXIT
events=()
for f in "${functions[@]}"; do events+=(-e "$group:$f"); done
out=$(mktemp -d)
for size in "$n" $((2 * n)); do
  perf stat -a -x, "${events[@]}" -o "$out/counts-$size" \
    target/release/e2e-bench --submissions "$size" --shards 16 >"$out/drain-$size" 2>&1
  published=$(awk '/^events in the stream/ {print $NF}' "$out/drain-$size")
  allocations=$(awk -F, '/probe_telemetry/ {sum += $1} END {print sum}' "$out/counts-$size")
  echo "$size submissions: $published events, $allocations allocations (alloc + alloc_zeroed + realloc)"
  echo "$published $allocations" >>"$out/totals"
done
awk 'NR == 1 {e = $1; a = $2} NR == 2 {
  printf "per event: %.2f allocations (%s); per fleet-shaped message (%.2f events): %.1f\n",
    ($2 - a) / ($1 - e), ENVIRON["AWS_CLIENT"] == "" ? "lean" : ENVIRON["AWS_CLIENT"],
    ($1 - e) / '"$n"', ($2 - a) / '"$n"'
}' "$out/totals"
rm -r "$out"
