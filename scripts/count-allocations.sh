#!/usr/bin/env bash
# Heap allocations per event of the release collector in a drain (`e2e-bench`), counted by
# uprobes on mimalloc's entry points (the collector's global allocator): every `alloc`,
# `alloc_zeroed` and `realloc` of the process. Two drains, of N and 2N submissions into 16
# shards; the difference divided by the difference in events leaves start-up out.
#
#   scripts/count-allocations.sh [N]            (default 6000; AWS_CLIENT=sdk for the SDK path)
#
# Needs `perf` (Debian `linux-perf`) and root: `perf probe` writes the kernel's tracing files.
# Install and build as yourself first (`scripts/bench-e2e.sh --help` does both), then e.g.
# `sudo --preserve-env=AWS_CLIENT,PATH scripts/count-allocations.sh`, so that nothing in
# .tools/ or target/ ends up owned by root. The probes slow every allocation by a trap, so the
# collector runs several times slower and its PutRecords batches come out larger than in a
# plain drain: per-call allocations weigh less here than they do there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n=${1:-6000}
client=${AWS_CLIENT:-lean}
if [ "$(id -u)" != 0 ] || ! command -v perf >/dev/null; then
  echo "count-allocations.sh: needs root and perf (see the comment at its top)" >&2
  exit 1
fi
scripts/install-emulators.sh --localstack
cargo build --release --locked -p telemetry-collector -p telemetry-localenv
bin=$PWD/target/release/telemetry-collector
# perf names the probes' group after the binary, up to its first '-'.
group=probe_telemetry
functions=(mi_malloc_aligned mi_zalloc_aligned mi_realloc_aligned)
out=$(mktemp -d)
trap 'perf probe -q -d "$group:*" 2>/dev/null || true; rm -rf "$out"' EXIT
perf probe -q -d "$group:*" 2>/dev/null || true
events=()
for f in "${functions[@]}"; do
  perf probe -q -x "$bin" -a "$f"
  events+=(-e "$group:$f")
done
for size in "$n" $((2 * n)); do
  # System-wide: the probes fire in every process running this build of the collector, so run
  # no other one meanwhile. (Counting e2e-bench and its children only, perf stat's default,
  # found a small fraction of the collector's allocations here: 0.7 per event against 5.1.)
  if ! perf stat -a -x, "${events[@]}" -o "$out/counts-$size" \
    target/release/e2e-bench --submissions "$size" --shards 16 >"$out/drain-$size" 2>&1; then
    tail -30 "$out/drain-$size" >&2
    exit 1
  fi
  published=$(awk '/^events in the stream/ {print $NF}' "$out/drain-$size")
  allocations=$(awk -F, -v g="$group:" 'index($3, g) == 1 {sum += $1} END {print sum + 0}' "$out/counts-$size")
  echo "$size submissions: $published events, $allocations allocations (alloc + alloc_zeroed + realloc)"
  echo "$published $allocations" >>"$out/totals"
done
awk -v n="$n" -v client="$client" 'NR == 1 {e = $1; a = $2} NR == 2 {
  printf "per event: %.2f allocations (%s); per fleet-shaped message (%.2f events): %.1f\n",
    ($2 - a) / ($1 - e), client, ($1 - e) / n, ($2 - a) / n
}' "$out/totals"
