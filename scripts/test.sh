#!/usr/bin/env bash
# The whole test suite: installs build prerequisites when missing, builds the binaries the
# end-to-end tests start (debug) and the release build the packages and images are made
# of, then runs every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --workspace --bins
# The one release build (collector, CLI, and the agent's size-tuned profile) and the Debian
# packages made from it: the package and container tests install and run exactly these.
scripts/package.sh >/dev/null
cargo test --workspace --no-fail-fast "$@"
