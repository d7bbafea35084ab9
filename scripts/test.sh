#!/usr/bin/env bash
# The test command: installs the pinned emulators into .tools/ if missing, checks formatting
# and lints, then runs every test (unit, property and integration tests against the emulators).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-emulators.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
