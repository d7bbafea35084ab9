#!/usr/bin/env bash
# The fault scenarios at their long scale (30 s outages, 60 s for the memory bound, longer
# feeds, 10 SIGKILLs), against LocalStack's SQS (which keeps its pace with a deep queue, where
# moto slows down) and kinesalite, with a release collector. Prints the table of figures that
# docs/guarantees.md quotes ("The fault scenarios"), on the lean client: by default the SDK
# twins are skipped (the suite runs them at small scale); `_through_the_sdk` runs them. Extra
# arguments go to the test binary, e.g. a filter: `b_kinesis`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/install-emulators.sh --localstack
report="$(mktemp)"
trap 'rm -f "$report"' EXIT
filters=("$@")
[ ${#filters[@]} -gt 0 ] || filters=(_scenarios:: memory:: --skip _through_the_sdk)
SCENARIO_SCALE=long TEST_SQS=localstack SCENARIO_REPORT="$report" \
  cargo test --release --locked -p telemetry-collector --test it -- \
  --test-threads=1 --nocapture "${filters[@]}"
echo
echo "| scenario | valid submissions | valid events | lost | order violations | duplicates | time to recover | notes |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
sort "$report"
