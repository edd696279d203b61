#!/usr/bin/env bash
# Agent cost, side by side in one run, each agent at a 10 s and at a 1 s interval, all at
# once so all see the same machine. Two modes:
#
# - WORK=same (the default): vigil-agent, node_exporter and collectd doing the same work
#   (CPU, memory, filesystems, disks, network, load, host info): six agents.
#   vigil-agent gets a config whose `[collect] disable` switches off every source but
#   cpu memory load disk network filesystem host (the list of sources is read from
#   agent/src/collect.rs, so a new source is switched off here without editing this
#   script); node_exporter runs only cpu meminfo filesystem diskstats netdev loadavg
#   stat uname os; collectd only cpu memory df disk interface load (and network, to send).
# - WORK=defaults: vigil-agent with its default sources (no config) against node_exporter
#   with the collectors its binary enables by default (no --collector.disable-defaults:
#   the built-in defaults, not what a distribution's /etc/default file may add; Debian's
#   1.5.0 binary enables systemd by default, upstream's does not). collectd is left out:
#   it has no default set of plugins to compare with. Four agents.
#
#   tests/bench/agent_cost.sh                 # same work, a 120 s window, about 3 minutes
#   WORK=defaults tests/bench/agent_cost.sh   # default sources against default collectors
#   DURATION=300 tests/bench/agent_cost.sh    # longer (rounded up to a multiple of 10 s;
#                                             # 60 s keeps systemd's runs whole)
#   AGENT_BIN=/path/to/vigil-agent tests/bench/agent_cost.sh   # measure that build instead
#   LOAD_MAX=1.5 LOAD_WAIT=600                # before starting, wait (at most LOAD_WAIT s)
#                                             # for the 1-minute load to fall to LOAD_MAX
#
# What runs:
# - vigil-agent (`--profile agent` build) streams to its own collector, with the disk
#   spool on (`--spool-dir` in the work directory). VIGIL_AGENT* variables of the
#   calling shell are unset, so only this script's config counts.
# - node_exporter is scraped by this script at the interval, with gzip, as Prometheus
#   would.
# - collectd (WORK=same only) sends to a UDP listener of this script at the interval.
#
# How it measures, per agent, over a window of DURATION seconds that starts WARMUP seconds
# after start-up, half an interval after one of the agent's rounds (so the window holds
# exactly DURATION/interval rounds, none cut in two):
# - RSS: VmRSS from /proc/PID/status once a second in the window: the median; the peak is
#   VmHWM, the kernel's high-water mark since start (start-up included; a sample above
#   it, as the kernel updates it lazily, counts instead). RSS counts every
#   page mapped, shared libc pages included; PSS (smaps_rollup, at the window's end) is
#   printed under the table too.
# - CPU per collection: the process's CPU clock (clock_gettime on the clock of another
#   process: nanoseconds, all threads, those that exited included) over the window, plus
#   the CPU of the children it waited for in the window (cutime + cstime of
#   /proc/PID/stat, in clock ticks: vigil's `systemctl` runs, where systemd runs),
#   divided by the rounds in it. node_exporter's includes serving and gzipping the scrape.
# - Bytes on the wire per sample, measured outside the agent and counting only what
#   crosses the network, never the spool's disk writes:
#   vigil: the `bytes_acked` of the agent's TCP connection to its collector (`ss -tin`,
#   payload bytes: HTTP/2, gRPC framing and gzip included, TCP/IP headers not) at the
#   window's start and end, divided by the samples sent in the window (rounds × series
#   of `vigil-agent --once`). A reconnect inside the window is reported, not hidden.
#   node_exporter: the gzip body of each scrape (HTTP headers not counted), per series.
#   collectd: UDP payload bytes received, per value (values counted by parsing the value
#   parts of collectd's binary protocol).
# - Binary: the file size (collectd: the daemon and the seven plugins it loads).
# - Load: the 1-minute load average (/proc/loadavg) at the start and the end of the run's
#   windows, printed under the table; the other agents of the run are part of it.
#
# Ports: servers listen on ports picked by free_port, below the kernel's ephemeral range
# (so no outgoing connection takes one meanwhile); if another process binds it first,
# listen_on starts the server again on another port.
#
# Installs prometheus-node-exporter, collectd-core and curl from Debian when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/setup.sh
WORK=${WORK:-same}
case $WORK in
  same | defaults) ;;
  *)
    echo "WORK=$WORK: unknown mode; use WORK=same (the default) or WORK=defaults" >&2
    exit 2
    ;;
esac
DURATION=${DURATION:-120}
DURATION=$(((DURATION + 9) / 10 * 10))
WARMUP=${WARMUP:-40}
LOAD_MAX=${LOAD_MAX:-1.5}
LOAD_WAIT=${LOAD_WAIT:-600}
for v in $(compgen -e | grep '^VIGIL_AGENT' || true); do unset "$v"; done
work=$(mktemp -d "${TMPDIR:-/tmp}/agent_cost.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

need=()
[[ -x /usr/bin/prometheus-node-exporter ]] || need+=(prometheus-node-exporter)
[[ $WORK != same || -x /usr/sbin/collectd ]] || need+=(collectd-core)
command -v curl >/dev/null || need+=(curl)
command -v ss >/dev/null || need+=(iproute2)
if ((${#need[@]})); then
  echo "installing ${need[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  # Debian starts the packaged services where it can; this benchmark runs its own.
  systemctl stop prometheus-node-exporter collectd 2>/dev/null || true
fi

if [[ -z ${AGENT_BIN:-} ]]; then
  echo "building vigil-agent (profile agent)" >&2
  cargo build --quiet --profile agent -p vigil-agent
fi
if [[ -z ${COLLECTOR_BIN:-} ]]; then
  echo "building vigil-collector" >&2
  cargo build --quiet -p vigil-collector --bin vigil-collector
fi
agent_bin=${AGENT_BIN:-$CARGO_TARGET_DIR/agent/vigil-agent}
collector_bin=${COLLECTOR_BIN:-$CARGO_TARGET_DIR/debug/vigil-collector}
ne_bin=/usr/bin/prometheus-node-exporter

# The node_exporter collectors and the vigil-agent sources of the same work.
ne_same=(cpu meminfo filesystem diskstats netdev loadavg stat uname os)
vigil_same=(cpu memory load disk network filesystem host)
vigil_args=()
if [[ $WORK == same ]]; then
  # Every source agent/src/collect.rs lists, but those of the same work.
  mapfile -t all_sources < <(sed -n '/^pub const SOURCES/,/^];/p' agent/src/collect.rs |
    grep -oE '"[a-z_]+"' | tr -d '"')
  if ((${#all_sources[@]} < ${#vigil_same[@]})); then
    echo "could not read the agent's SOURCES from agent/src/collect.rs" >&2
    exit 1
  fi
  off=()
  for s in "${all_sources[@]}"; do
    [[ " ${vigil_same[*]} " == *" $s "* ]] || off+=("\"$s\"")
  done
  printf '[collect]\ndisable = [%s]\n' "$(IFS=,; echo "${off[*]}")" >"$work/vigil-same.toml"
  vigil_args=(--config "$work/vigil-same.toml")
  if ! "$agent_bin" "${vigil_args[@]}" --once --spool-dir "" >/dev/null 2>"$work/config-check.log"; then
    echo "$agent_bin refuses the same-work config ($work/vigil-same.toml):" >&2
    cat "$work/config-check.log" >&2
    echo "a build without [collect] disable runs only the same-work sources: measure it with WORK=defaults" >&2
    exit 1
  fi
  echo "vigil-agent, same work: [collect] disable = [${off[*]}]" >&2
fi

# Waits for the machine to quieten (other builds and tests share it) before measuring.
waited=0
while python3 -c "import sys; sys.exit(float(open('/proc/loadavg').read().split()[0]) <= float(sys.argv[1]))" "$LOAD_MAX"; do
  if ((waited >= LOAD_WAIT)); then
    echo "load $(cut -d' ' -f1-3 /proc/loadavg) still above $LOAD_MAX after ${LOAD_WAIT}s; measuring anyway" >&2
    break
  fi
  ((waited == 0)) && echo "load $(cut -d' ' -f1-3 /proc/loadavg) above $LOAD_MAX: waiting (at most ${LOAD_WAIT}s)" >&2
  sleep 30
  waited=$((waited + 30))
done
echo "starting at load $(cut -d' ' -f1-3 /proc/loadavg)" >&2

# free_port: a loopback port nothing listens on now, below the ephemeral range.
free_port() {
  python3 - <<'PY'
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
while True:
    port = random.randrange(10000, max(low, 10001))
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        print(port)
        break
    except OSError:
        pass
    finally:
        s.close()
PY
}

# listen_on NAME CMD...: starts CMD in the background with every {PORT} replaced by a free
# port and waits until it accepts connections; if it exits first (the port was taken in
# between), tries again on another port. Sets $port and $pid; logs go to $work/NAME.log.
listen_on() {
  local name=$1 try arg
  shift
  for try in 1 2 3 4 5; do
    port=$(free_port)
    local cmd=()
    for arg in "$@"; do cmd+=("${arg//\{PORT\}/$port}"); done
    "${cmd[@]}" >>"$work/$name.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        pids+=("$pid")
        return 0
      fi
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "$name did not listen on $port (try $try); see $work/$name.log" >&2
  done
  exit 1
}

now() { date +%s.%N; }
specs=() # name pid interval kind started extra

for iv in 10 1; do
  # --- vigil-agent and its collector ----------------------------------------------------
  listen_on "collector-$iv" "$collector_bin" --grpc-listen "127.0.0.1:{PORT}" \
    --data-dir "$work/data-$iv" --log-level warn
  cport=$port
  "$agent_bin" "${vigil_args[@]}" --collector "http://127.0.0.1:$cport" --interval "${iv}s" \
    --hostname "bench-$iv" --spool-dir "$work/spool-$iv" --log-level warn \
    >>"$work/vigil-$iv.log" 2>&1 &
  pids+=($!)
  specs+=("vigil-$iv $! $iv vigil $(now) $cport")

  # --- node_exporter, scraped by the sampler ----------------------------------------------
  ne_args=()
  if [[ $WORK == same ]]; then
    ne_args=(--collector.disable-defaults "${ne_same[@]/#/--collector.}")
  fi
  listen_on "ne-$iv" "$ne_bin" --web.listen-address="127.0.0.1:{PORT}" "${ne_args[@]}" \
    --log.level=warn
  specs+=("ne-$iv $pid $iv ne $(now) $port")

  [[ $WORK == same ]] || continue
  # --- collectd, the same plugins, to a UDP listener ------------------------------------
  python3 - "$work/udp-$iv" <<'PY' &
# Counts collectd's UDP payload bytes and the values in them (binary protocol: parts of
# type(2) length(2) data; a "values" part, type 6, starts with its value count(2)).
import os, socket, struct, sys
out = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
with open(out + ".port.tmp", "w") as f:
    f.write(str(s.getsockname()[1]))
os.rename(out + ".port.tmp", out + ".port")
total = values = 0
while True:
    packet = s.recv(65536)
    total += len(packet)
    i = 0
    while i + 4 <= len(packet):
        kind, length = struct.unpack_from(">HH", packet, i)
        if length < 4:
            break
        if kind == 6 and i + 6 <= len(packet):
            values += struct.unpack_from(">H", packet, i + 4)[0]
        i += length
    with open(out + ".tmp", "w") as f:
        f.write(f"{total} {values}\n")
    os.rename(out + ".tmp", out)
PY
  pids+=($!)
  for _ in $(seq 100); do [[ -s "$work/udp-$iv.port" ]] && break; sleep 0.1; done
  mkdir -p "$work/collectd-$iv"
  cat >"$work/collectd-$iv.conf" <<CONF
Interval $iv
FQDNLookup false
Hostname "bench-$iv"
BaseDir "$work/collectd-$iv"
PIDFile "$work/collectd-$iv/collectd.pid"
LoadPlugin cpu
LoadPlugin memory
LoadPlugin df
LoadPlugin disk
LoadPlugin interface
LoadPlugin load
LoadPlugin network
<Plugin network>
  Server "127.0.0.1" "$(cat "$work/udp-$iv.port")"
</Plugin>
CONF
  /usr/sbin/collectd -f -C "$work/collectd-$iv.conf" >>"$work/collectd-$iv.log" 2>&1 &
  pids+=($!)
  specs+=("collectd-$iv $! $iv collectd $(now) $work/udp-$iv")
done

vigil_series=$("$agent_bin" "${vigil_args[@]}" --once --spool-dir "$work/spool-once" | grep -vc '^#')
collectd_size=0 collectd_version=-
if [[ $WORK == same ]]; then
  collectd_size=$(stat -c %s /usr/sbin/collectd)
  for p in cpu memory df disk interface load network; do
    collectd_size=$((collectd_size + $(stat -c %s "/usr/lib/collectd/$p.so")))
  done
  collectd_version=$(dpkg-query -W -f '${Version}' collectd-core | cut -d- -f1)
fi
sizes="$(stat -c %s "$agent_bin") $(stat -c %s "$ne_bin") $collectd_size"
versions="$([[ -n ${AGENT_BIN:-} ]] && echo "$(basename "$AGENT_BIN")" || git describe --always --dirty 2>/dev/null || echo '?')|$("$ne_bin" --version 2>&1 | awk 'NR==1{print $3}')|$collectd_version"

echo "measuring: ${WARMUP}s warm-up, then a ${DURATION}s window per agent" >&2
python3 - "$WORK" "$DURATION" "$WARMUP" "$vigil_series" "$sizes" "$versions" "${specs[@]}" <<'PY'
import gzip, os, re, statistics, subprocess, sys, time, urllib.request

mode = sys.argv[1]
duration, warmup, vigil_series = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sizes = dict(zip(["vigil", "ne", "collectd"], map(int, sys.argv[5].split())))
versions = dict(zip(["vigil", "ne", "collectd"], sys.argv[6].split("|")))
kinds = ["vigil", "ne", "collectd"] if mode == "same" else ["vigil", "ne"]
agents = []
for spec in sys.argv[7:]:
    name, pid, interval, kind, started, extra = spec.split()
    agents.append(dict(name=name, pid=int(pid), interval=int(interval), kind=kind,
                       started=float(started), extra=extra, rss=[], scrapes=[]))

TICK_NS = 1e9 / os.sysconf("SC_CLK_TCK")

def cpu_ns(pid):
    # The CPU-time clock of process `pid` (clockid ((~pid) << 3) | CPUCLOCK_SCHED), plus
    # its waited-for children's user and system time (fields 16 and 17 of its stat).
    own = time.clock_gettime_ns(((~pid) << 3) | 2)
    stat = open(f"/proc/{pid}/stat").read()
    fields = stat[stat.rindex(")") + 2:].split()
    return own + (int(fields[13]) + int(fields[14])) * TICK_NS

def load1():
    return float(open("/proc/loadavg").read().split()[0])

def status(pid):
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, value = line.partition(":")
        fields[key] = value.split()[0] if value.split() else ""
    return fields

def acked(port):
    """bytes_acked of established connections to 127.0.0.1:port, keyed by local port."""
    out = subprocess.run(["ss", "-tinH", "state", "established", f"( dport = :{port} )"],
                         capture_output=True, text=True).stdout
    conns, local = {}, None
    for line in out.splitlines():
        m = re.match(r"\s*\d+\s+\d+\s+\S+:(\d+)\s+\S+", line)
        if m:
            local = m.group(1)
            continue
        b = re.search(r"bytes_acked:(\d+)", line)
        if local is not None:
            conns[local] = int(b.group(1)) if b else 0
            local = None
    return conns

def scrape(agent):
    req = urllib.request.Request(f"http://127.0.0.1:{agent['extra']}/metrics",
                                 headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=5) as r:
        body = r.read()
    agent["body"] = body
    return len(body)

def snapshot(agent):
    snap = {"t": time.time(), "cpu": cpu_ns(agent["pid"])}
    if agent["kind"] == "vigil":
        snap["conns"] = acked(agent["extra"])
    elif agent["kind"] == "collectd":
        try:
            snap["udp"] = tuple(map(int, open(agent["extra"]).read().split()))
        except (OSError, ValueError):
            snap["udp"] = (0, 0)
    return snap

begin = time.time()
loads = []
for a in agents:
    # Rounds come every interval from start (for node_exporter, from `begin`, when this
    # script scrapes); the window starts half an interval after one, past the warm-up.
    origin = begin if a["kind"] == "ne" else a["started"]
    a["origin"] = origin
    k = int((begin + warmup - origin) // a["interval"]) + 1
    a["t0"] = origin + (k + 0.5) * a["interval"]
    a["t1"] = a["t0"] + duration
    a["next_scrape"] = begin
    a["next_rss"] = a["t0"]
start = min(a["t0"] for a in agents)
end = max(a["t1"] for a in agents)
while True:
    now = time.time()
    if now > end + 0.2:
        break
    if now >= start and not loads:
        loads.append(load1())
    for a in agents:
        if a["kind"] == "ne" and now >= a["next_scrape"]:
            size = scrape(a)
            a["next_scrape"] += a["interval"]
            if a["t0"] <= now < a["t1"]:
                a["scrapes"].append(size)
        if "s0" not in a and now >= a["t0"]:
            a["s0"] = snapshot(a)
        if "s1" not in a and now >= a["t1"]:
            a["s1"] = snapshot(a)
            # The kernel updates VmHWM lazily: a sample above it is the peak.
            a["hwm"] = max([int(status(a["pid"])["VmHWM"])] + a["rss"])
            a["smaps"] = {k: v for k, v in status(a["pid"]).items() if k in ("RssAnon", "RssFile")}
            for line in open(f"/proc/{a['pid']}/smaps_rollup"):
                if line.startswith("Pss:"):
                    a["pss"] = int(line.split()[1])
        if a["t0"] <= now < a["t1"] and now >= a["next_rss"]:
            a["rss"].append(int(status(a["pid"])["VmRSS"]))
            a["next_rss"] += 1
    time.sleep(0.05)
loads.append(load1())

rows, notes = {}, []
for a in agents:
    s0, s1 = a["s0"], a["s1"]
    rounds = duration // a["interval"]
    cpu_ms = (s1["cpu"] - s0["cpu"]) / 1e6 / rounds
    series, per_sample = "-", "-"
    if a["kind"] == "vigil":
        series = vigil_series
        common = set(s0["conns"]) & set(s1["conns"])
        if len(common) == 1 and len(s0["conns"]) == 1 and len(s1["conns"]) == 1:
            (c,) = common
            per_sample = (s1["conns"][c] - s0["conns"][c]) / (rounds * series)
        else:
            notes.append(f"{a['name']}: the agent's connection changed in the window "
                         f"({s0['conns']} -> {s1['conns']}); no bytes figure")
    elif a["kind"] == "ne":
        text = gzip.decompress(a["body"]).decode()
        series = sum(1 for l in text.splitlines() if l and not l.startswith("#"))
        scrapes = a["scrapes"]
        rounds = len(scrapes)
        cpu_ms = (s1["cpu"] - s0["cpu"]) / 1e6 / max(rounds, 1)
        per_sample = statistics.mean(scrapes) / series
    else:
        (b0, v0), (b1, v1) = s0["udp"], s1["udp"]
        if v1 > v0:
            series = round((v1 - v0) / rounds)
            per_sample = (b1 - b0) / (v1 - v0)
    rows[a["name"]] = dict(
        kind=a["kind"], interval=a["interval"], rss=statistics.median(a["rss"]),
        hwm=a["hwm"], cpu=cpu_ms, series=series, per_sample=per_sample,
        anon=a["smaps"].get("RssAnon"), file=a["smaps"].get("RssFile"), pss=a.get("pss", 0))

labels = {
    "vigil": f"vigil-agent {versions['vigil']} (spool on)",
    "ne": f"node_exporter {versions['ne']} (scraped, gzip)",
    "collectd": f"collectd {versions['collectd']} (UDP)",
}
if mode == "defaults":
    labels["vigil"] = f"vigil-agent {versions['vigil']} (default sources, spool on)"
    labels["ne"] = f"node_exporter {versions['ne']} (default collectors, scraped, gzip)"
what = {"same": "the same work", "defaults": "each with its default sources"}[mode]
mem = sum(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
print()
print(f"Agent cost on {os.cpu_count()} cores, {mem / 1048576:.0f} GiB, kernel "
      f"{os.uname().release}, {what} (WORK={mode}), a {duration} s window each "
      f"({time.strftime('%Y-%m-%d', time.gmtime())})")
print()
print("| agent | interval | RSS median | RSS peak | CPU per collection | series | bytes per sample | binary |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for iv in (10, 1):
    for kind in kinds:
        r = rows[f"{kind}-{iv}"]
        ps = r["per_sample"]
        print(f"| {labels[kind]} | {iv} s | {r['rss'] / 1024:.2f} MB | {r['hwm'] / 1024:.2f} MB "
              f"| {r['cpu']:.2f} ms | {r['series']} | {ps if ps == '-' else f'{ps:.2f}'} "
              f"| {sizes[kind] / 1e6:.1f} MB |")
print()
for iv in (10, 1):
    r = rows[f"vigil-{iv}"]
    print(f"vigil-agent at {iv} s, at the window's end: {r['anon']} kB anonymous, {r['file']} kB file-backed (code).")
for iv in (10, 1):
    pss = ", ".join(f"{labels[k].split()[0]} {rows[f'{k}-{iv}']['pss'] / 1024:.2f} MB"
                    for k in kinds)
    print(f"PSS at {iv} s: {pss}.")
print("(PSS divides each shared page among the processes mapping it: libc's among all, and, with")
print("two instances of each agent running, each one's own code between its two instances.)")
print(f"1-minute load average at the windows' start: {loads[0]:.2f}, at their end: {loads[-1]:.2f}.")
for n in notes:
    print(n)
PY
for iv in 10 1; do
  if [[ -d "$work/spool-$iv" ]]; then
    echo "vigil-agent at $iv s: $(du -sk "$work/spool-$iv" | cut -f1) kB in its spool directory at the end"
  else
    echo "vigil-agent at $iv s: no spool directory (this build keeps rounds in memory)"
  fi
done
if grep -qiE 'error|warn' "$work"/vigil-*.log 2>/dev/null; then
  echo "vigil-agent logged warnings:" >&2
  grep -hiE 'error|warn' "$work"/vigil-*.log | tail -5 >&2
fi
