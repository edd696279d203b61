#!/usr/bin/env bash
# Builds Vigil's Debian packages into $CARGO_TARGET_DIR/debian/:
#   vigil-agent_<version>-<revision>_<arch>.deb      /usr/bin/vigil-agent (`agent` profile)
#   vigil-collector_<version>-<revision>_<arch>.deb  /usr/bin/vigil-collector, /usr/bin/vigil
# from one build of each binary: cargo builds them, then cargo-deb --no-build packs them
# with what [package.metadata.deb] in agent/Cargo.toml and collector/server/Cargo.toml
# lists (deploy/debian/, deploy/systemd/). A package newer than everything it is made of
# is not packed again, and cargo rebuilds nothing unchanged: a second run takes seconds.
#
# Usage: scripts/package.sh [--revision N]
#   --revision N  the Debian revision, <version>-N (default 1); a higher one makes an
#                 upgrade of the same version. cargo-deb keeps one build of each package
#                 in $CARGO_TARGET_DIR/debian: it deletes the package's other versions.
# Prints the two packages' paths on stdout, one a line; progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

revision=1
while (($#)); do
  case "$1" in
    --revision) revision="${2:?--revision needs a number, e.g. --revision 2}"; shift 2 ;;
    -h | --help) sed -n '2,/^set -e/{/^set -e/d; s/^# \{0,1\}//; p}' "$0"; exit 0 ;;
    *) echo "package.sh: unknown argument '$1' (see scripts/package.sh --help)" >&2; exit 2 ;;
  esac
done
if [[ ! $revision =~ ^[0-9]+$ ]]; then
  echo "package.sh: --revision must be a number, not '$revision'" >&2
  exit 2
fi
if ! command -v dpkg >/dev/null 2>&1; then
  echo "package.sh: dpkg is missing: Debian packages are built on Debian or a derivative" >&2
  exit 1
fi

source scripts/setup.sh >&2
out="$CARGO_TARGET_DIR/debian"
mkdir -p "$out"

# The one build: the collector and the CLI together (RocksDB's release build is shared with
# every other release build), the agent with its size-tuned profile.
cargo build --release -p vigil-collector -p vigil-cli >&2
cargo build --profile agent -p vigil-agent >&2

arch=$(dpkg --print-architecture)
version=$(cargo pkgid -p vigil-agent)
version=${version##*[#@]}

# pack NAME INPUT...: packs the cargo package NAME into NAME_<version>-<revision>_<arch>.deb,
# unless that file is newer than every INPUT (files, or directories searched whole).
pack() {
  local name=$1
  shift
  local deb="$out/${name}_${version}-${revision}_${arch}.deb"
  if [[ -f $deb && -z $(find "$@" -newer "$deb" -print -quit) ]]; then
    echo "package.sh: $deb is up to date" >&2
  else
    cargo deb --no-build -p "$name" --deb-revision "$revision" --output "$deb" >&2
    # cargo-deb strips copies of the binaries in its work directory, and leaves them there.
    rm -f "$CARGO_TARGET_DIR/$name"/*.stripped-*.tmp
    rmdir "$CARGO_TARGET_DIR/$name" 2>/dev/null || true
  fi
  echo "$deb"
}

common=(deploy/debian scripts/package.sh Cargo.toml)
pack vigil-agent "${common[@]}" agent/Cargo.toml "$CARGO_TARGET_DIR/agent/vigil-agent" \
  deploy/systemd/vigil-agent.service deploy/agent.example.toml
pack vigil-collector "${common[@]}" collector/server/Cargo.toml \
  "$CARGO_TARGET_DIR/release/vigil-collector" "$CARGO_TARGET_DIR/release/vigil" \
  deploy/systemd/vigil-collector.service deploy/rules/host.example.yml \
  deploy/collector.example.toml
