#!/usr/bin/env bash
# Agent cost, side by side: vigil-agent vs node_exporter vs collectd on this machine.
#
# Each runs for DURATION seconds collecting every second (node_exporter is scraped every
# second over HTTP with gzip, as Prometheus would; collectd sends to a UDP listener); the
# script samples each process's RSS every second and reads its CPU time before and after.
# Prints one table: steady RSS (median), peak RSS, CPU per collection, series per
# collection, bytes on the wire per sample, binary size.
#
#   tests/bench/agent_cost.sh            # 60 s each
#   DURATION=120 tests/bench/agent_cost.sh
#
# Installs prometheus-node-exporter, collectd-core and curl from Debian when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/setup.sh
DURATION=${DURATION:-60}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

need=()
[[ -x /usr/bin/prometheus-node-exporter ]] || need+=(prometheus-node-exporter)
[[ -x /usr/sbin/collectd ]] || need+=(collectd-core)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  echo "installing ${need[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts the packaged services where it can; this benchmark runs its own.
  pkill -x prometheus-node-exporter 2>/dev/null || true
  pkill -x collectd 2>/dev/null || true
fi

echo "building vigil-agent (profile agent) and vigil-collector" >&2
cargo build --quiet --profile agent -p vigil-agent
cargo build --quiet -p vigil-collector --bin vigil-collector
agent_bin="$CARGO_TARGET_DIR/agent/vigil-agent"
hz=$(getconf CLK_TCK)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status"; }
wchar() { awk '/^wchar/{print $2}' "/proc/$1/io"; }

# measure PID NAME ACTION: runs ACTION once a second for DURATION s, sampling RSS.
measure() {
  local pid=$1 name=$2 action=$3
  sleep 3 # past start-up
  local t0 c0 w0; t0=$(date +%s.%N); c0=$(cpu_ticks "$pid"); w0=$(wchar "$pid")
  : > "$work/$name.rss"
  for _ in $(seq "$DURATION"); do
    $action
    rss_kb "$pid" >> "$work/$name.rss"
    sleep 1
  done
  local t1 c1 w1; t1=$(date +%s.%N); c1=$(cpu_ticks "$pid"); w1=$(wchar "$pid")
  echo "$t0 $t1 $c0 $c1 $w0 $w1" > "$work/$name.cpu"
}
median() { sort -n "$1" | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
peak() { sort -n "$1" | tail -1; }
noop() { :; }

# --- vigil-agent -------------------------------------------------------------------------
port=$(free_port)
"$CARGO_TARGET_DIR/debug/vigil-collector" --grpc-listen "127.0.0.1:$port" --data-dir "$work/data" --log-level warn &
pids+=($!)
sleep 2
"$agent_bin" --collector "http://127.0.0.1:$port" --interval 1s --log-level warn &
agent=$!; pids+=($agent)
echo "measuring vigil-agent for ${DURATION}s" >&2
measure "$agent" vigil noop
vigil_series=$("$agent_bin" --once | grep -vc '^#')

# --- node_exporter, the same collectors, scraped like Prometheus does ------------------
nport=$(free_port)
/usr/bin/prometheus-node-exporter --web.listen-address="127.0.0.1:$nport" \
  --collector.disable-defaults --collector.cpu --collector.meminfo --collector.filesystem \
  --collector.diskstats --collector.netdev --collector.loadavg --collector.stat \
  --collector.uname --collector.os --log.level=warn &
ne=$!; pids+=($ne)
: > "$work/ne.bytes"
scrape() {
  curl -s --compressed -H 'Accept-Encoding: gzip' -o "$work/ne.txt" -w '%{size_download}\n' \
    "http://127.0.0.1:$nport/metrics" >> "$work/ne.bytes"
}
echo "measuring node_exporter for ${DURATION}s" >&2
measure "$ne" ne scrape
ne_series=$(grep -vc '^#' "$work/ne.txt")
ne_bytes=$(awk '{s+=$1} END{print s/NR}' "$work/ne.bytes")

# --- collectd, the same plugins, every second, to a UDP listener --------------------------
uport=$(free_port)
python3 - "$uport" "$work/udp.bytes" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1])))
total = 0
while True:
    total += len(s.recv(65536))
    open(sys.argv[2], "w").write(str(total))
PY
pids+=($!)
cat > "$work/collectd.conf" <<CONF
Interval 1
FQDNLookup false
LoadPlugin cpu
LoadPlugin memory
LoadPlugin df
LoadPlugin disk
LoadPlugin interface
LoadPlugin load
LoadPlugin network
<Plugin network>
  Server "127.0.0.1" "$uport"
</Plugin>
CONF
/usr/sbin/collectd -f -C "$work/collectd.conf" >/dev/null 2>&1 &
cd_pid=$!; pids+=($cd_pid)
echo "measuring collectd for ${DURATION}s" >&2
measure "$cd_pid" collectd noop

# --- report -------------------------------------------------------------------------------
row() { # name series bytes_per_round binary
  local name=$1 series=$2 bytes=$3 bin=$4
  read -r t0 t1 c0 c1 _ _ < "$work/$name.cpu"
  local rounds; rounds=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%d", b-a}')
  awk -v name="$5" -v med="$(median "$work/$name.rss")" -v pk="$(peak "$work/$name.rss")" \
      -v c0="$c0" -v c1="$c1" -v hz="$hz" -v r="$rounds" -v s="$series" -v b="$bytes" -v bin="$bin" \
    'BEGIN{ printf "| %-22s | %8.1f MB | %8.1f MB | %9.2f ms | %6d | %8s | %7.1f MB |\n",
            name, med/1024, pk/1024, (c1-c0)/hz*1000/r, s, (b=="-"?"-":sprintf("%.2f", b/s)), bin/1e6 }'
}
read -r _ _ _ _ w0 w1 < "$work/vigil.cpu"
read -r vt0 vt1 _ < "$work/vigil.cpu"
vigil_bytes=$(awk -v a="$w0" -v b="$w1" -v t0="$vt0" -v t1="$vt1" 'BEGIN{print (b-a)/(t1-t0)}')
cd_bytes=$(awk -v t="$DURATION" '{print $1/(t+3)}' "$work/udp.bytes" 2>/dev/null || echo -)
cd_series=$(awk -v b="$cd_bytes" 'BEGIN{print "-"}')
echo
echo "Agent cost on $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), collecting every 1 s for ${DURATION} s ($(date -u +%F))"
echo
echo "| agent                  | RSS median  | RSS peak    | CPU/collect  | series | B/sample | binary     |"
echo "| ---------------------- | ----------- | ----------- | ------------ | ------ | -------- | ---------- |"
row vigil "$vigil_series" "$vigil_bytes" "$(stat -c %s "$agent_bin")" "vigil-agent $(git describe --always 2>/dev/null)"
row ne "$ne_series" "$ne_bytes" "$(stat -c %s /usr/bin/prometheus-node-exporter)" "node_exporter $(dpkg-query -W -f '${Version}' prometheus-node-exporter | cut -d- -f1)"
row collectd 0 - "$(stat -c %s /usr/sbin/collectd)" "collectd $(dpkg-query -W -f '${Version}' collectd-core | cut -d- -f1)"
echo
echo "collectd sends $(printf '%.0f' "$cd_bytes") bytes a round over UDP (its value count per round is not reported here)."
echo "B/sample: vigil = bytes the agent wrote (gRPC, gzip) per sample; node_exporter = gzip scrape size per sample."
