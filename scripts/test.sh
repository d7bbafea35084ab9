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
# The database is found at $CARGO_AUDIT_DB (which must exist when set), else beside the
# repository; where that does not exist (a clone elsewhere) the audit says it is skipped,
# loudly, rather than failing the tests.
if [[ -n "${CARGO_AUDIT_DB:-}" && ! -d "$CARGO_AUDIT_DB" ]]; then
  echo "CARGO_AUDIT_DB=$CARGO_AUDIT_DB is not a directory" >&2
  exit 1
fi
ADVISORY_DB="${CARGO_AUDIT_DB:-../shared/advisory-db}"
if [[ -d "$ADVISORY_DB" ]]; then
  if [[ "$(cargo audit --version 2>/dev/null)" != *" $CARGO_AUDIT_VERSION" ]]; then
    cargo install cargo-audit --version "$CARGO_AUDIT_VERSION" --locked
  fi
  cargo audit --db "$ADVISORY_DB" --no-fetch --stale
else
  echo "cargo audit SKIPPED: no advisory database at $ADVISORY_DB (set CARGO_AUDIT_DB)" >&2
fi
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
