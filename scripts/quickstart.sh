#!/usr/bin/env bash
# Builds Vigil and runs a collector (gRPC on 127.0.0.1:7070, the Prometheus-compatible HTTP
# API on 127.0.0.1:7071, data in ./vigil-data) with an agent on this host reporting to it
# every 10 s, spooling in ./vigil-agent-spool. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
# Running Vigil needs no packaging or container tools.
export VIGIL_SETUP_PACKAGING=${VIGIL_SETUP_PACKAGING:-0} VIGIL_SETUP_CONTAINERS=${VIGIL_SETUP_CONTAINERS:-0}
source scripts/setup.sh
cargo build --workspace --bins
bin="$CARGO_TARGET_DIR/debug"
addr="${VIGIL_GRPC_LISTEN:-127.0.0.1:7070}"
http="${VIGIL_HTTP_LISTEN:-127.0.0.1:7071}"

"$bin/vigil-collector" --grpc-listen "$addr" --http-listen "$http" --data-dir "${VIGIL_DATA_DIR:-./vigil-data}" &
collector=$!
trap 'kill $agent $collector 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}") 2>/dev/null && break
  sleep 0.2
done
# The agent keeps what the collector has not acknowledged in ./vigil-agent-spool, so a
# restart of either loses nothing.
"$bin/vigil-agent" --collector "http://$addr" --interval "${VIGIL_INTERVAL:-10s}" \
  --spool-dir "${VIGIL_SPOOL_DIR:-./vigil-agent-spool}" &
agent=$!
cat <<MSG

  Vigil is running: collector on $addr (Prometheus API: http://$http), agent on $(hostname).
  In another terminal (the CLI is $bin/vigil):
    $bin/vigil hosts
    $bin/vigil series 'node_load1'
    $bin/vigil top
    $bin/vigil query 'node_memory_MemAvailable_bytes[5m]'
    curl 'http://$http/api/v1/query?query=node_load1'
  Ctrl-C stops both.

MSG
wait $collector
