#!/usr/bin/env bash
# What authentication costs a query: the same HTTP API query against a release-built
# collector without tokens (open, loopback), then with TOKENS tokens configured, called
# with a bearer token and with basic auth. One keep-alive connection per run (curl reusing
# it for every request), RUNS requests each after a warm-up; the table shows the median
# and 99th percentile of curl's time per request, and requests per second.
#
#   tests/bench/auth_latency.sh                  # 2000 requests, 100 tokens
#   RUNS=500 TOKENS=10 tests/bench/auth_latency.sh
#
# Installs curl when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/setup.sh
RUNS=${RUNS:-2000}
TOKENS=${TOKENS:-100}
QUERY=${QUERY:-'sum(vigil_collector_batches_total) + 1'}
PROFILE=${PROFILE:-release}
work=$(mktemp -d "${TMPDIR:-/tmp}/auth_latency.XXXXXX")
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

command -v curl >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl >/dev/null
}
echo "building vigil-collector (profile $PROFILE)" >&2
cargo build --quiet --profile "$PROFILE" -p vigil-collector --bins
bin="$CARGO_TARGET_DIR/$([[ $PROFILE == dev ]] && echo debug || echo "$PROFILE")"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start CONFIG: a collector on fresh ports with that config; sets $pid and $api.
start() {
  local grpc http
  grpc=$(free_port) http=$(free_port)
  rm -rf "$work/data"
  "$bin/vigil-collector" --config "$1" --data-dir "$work/data" \
    --grpc-listen "127.0.0.1:$grpc" --http-listen "127.0.0.1:$http" \
    --log-level warn 2>>"$work/collector.log" &
  pid=$!
  api="http://127.0.0.1:$http"
  for _ in $(seq 300); do curl -sf -o /dev/null "$api/-/ready" && return 0; sleep 0.1; done
  echo "the collector did not start; see $work/collector.log" >&2
  exit 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

# measure NAME CURL_ARGS...: RUNS requests over one connection; prints a table row.
measure() {
  local name=$1
  shift
  local url
  url="$api/api/v1/query?query=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$QUERY")"
  curl -sf -o /dev/null "$@" "$url" || { echo "$name: the query was refused" >&2; exit 1; }
  : >"$work/urls"
  for _ in $(seq "$RUNS"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$url" >>"$work/urls"; done
  local started ended
  started=$(date +%s.%N)
  curl -s -w '%{time_total}\n' "$@" --config "$work/urls" >"$work/times"
  ended=$(date +%s.%N)
  python3 - "$name" "$work/times" "$started" "$ended" <<'EOF'
import statistics, sys
name, path, t0, t1 = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
times = sorted(float(l) * 1e3 for l in open(path) if l.strip())
p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
print(f"| {name} | {len(times)} | {statistics.median(times):.3f} | {p99:.3f} | {len(times) / (t1 - t0):.0f} |")
EOF
}

secret=bench-read-secret-0123456789
{
  for i in $(seq "$TOKENS"); do
    printf '[[auth.tokens]]\nname = "t%d"\nrole = "read"\nsecret = "bench-token-%d-0123456789"\n\n' "$i" "$i"
  done
  printf '[[auth.tokens]]\nname = "grafana"\nrole = "read"\nsecret = "%s"\n' "$secret"
} >"$work/tokens.toml"
: >"$work/open.toml"

echo "| run | requests | median ms | p99 ms | requests/s |"
echo "| --- | --- | --- | --- | --- |"
start "$work/open.toml"
measure "open (no tokens)"
stop
start "$work/tokens.toml"
measure "bearer token ($((TOKENS + 1)) tokens)" -H "Authorization: Bearer $secret"
measure "basic auth ($((TOKENS + 1)) tokens)" -u "grafana:$secret"
stop
echo "query: $QUERY; $(nproc) cores, $(uname -r); profile $PROFILE" >&2
