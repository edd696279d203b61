#!/usr/bin/env bash
# The whole test suite: installs build prerequisites when missing, builds the binaries the
# end-to-end tests start, then runs every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --workspace --bins
cargo test --workspace --no-fail-fast "$@"
