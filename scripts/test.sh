#!/usr/bin/env bash
# The test command: installs the pinned emulators into .tools/ if missing, checks formatting
# and lints, audits the dependencies, then runs every test (unit, property and integration
# tests against the emulators).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-emulators.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Known vulnerabilities in Cargo.lock, against the advisory database kept beside the repository
# (not fetched: the machines reach no network but the package registries). cargo-audit is
# installed, pinned, into cargo's bin directory if missing; any vulnerability fails the run.
CARGO_AUDIT_VERSION=0.22.2
if [[ "$(cargo audit --version 2>/dev/null)" != *" $CARGO_AUDIT_VERSION" ]]; then
  cargo install cargo-audit --version "$CARGO_AUDIT_VERSION" --locked
fi
cargo audit --db ../shared/advisory-db --no-fetch --stale
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
